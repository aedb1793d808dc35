"""Fixtures of the suite-level tests: the five services in one process."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from ._suite import Suite, start_suite

# Tokens of the suite tests. ROOT is also what the services send to each other.
ROOT = "suite-root"
DEFAULT_ONLY = "suite-default-only"
BRAND_B_ONLY = "suite-brand-b-only"
WORKSPACES = ["default", "brand-b"]
TOKENS: dict[str, Any] = {
    ROOT: {"scopes": ["*"], "workspaces": ["*"]},
    DEFAULT_ONLY: {"scopes": ["*"], "workspaces": ["default"]},
    BRAND_B_ONLY: {"scopes": ["*"], "workspaces": ["brand-b"]},
}


@pytest.fixture
def suite_factory(tmp_path: Path) -> Callable[..., AbstractAsyncContextManager[Suite]]:
    """``async with suite_factory(auth_tokens=..., outbound_token=..., workspaces=...)``:
    all five services in-process, each with its own SQLite file under tmp_path."""

    def factory(**options: Any) -> AbstractAsyncContextManager[Suite]:
        return start_suite(tmp_path, **options)

    return factory
