"""Fixtures of profile's integration tests."""

from __future__ import annotations

import functools
from typing import Any

import pytest


@pytest.fixture
def pg_profile_server(profile_server: Any, postgres_url: str, pg_schema: str) -> Any:
    """``profile_server`` on this test's PostgreSQL schema:
    ``async with pg_profile_server(**settings) as (stub, running):``."""
    return functools.partial(profile_server, database_url=postgres_url, database_schema=pg_schema)
