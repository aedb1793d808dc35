"""Segments and life stages reading a computed trait follow its backfill, key and
deletion on PostgreSQL (test_profile_computed_trait_rules.py)."""

from __future__ import annotations

from typing import Any

from ..service.test_profile_computed_trait_rules import rules_follow_a_computed_trait


async def test_rules_reading_a_computed_trait_follow_it_on_postgres(pg_profile_server: Any) -> None:
    async with pg_profile_server() as (stub, _running):
        await rules_follow_a_computed_trait(stub)
