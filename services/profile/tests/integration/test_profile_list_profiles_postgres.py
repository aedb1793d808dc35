"""ListProfiles on PostgreSQL: paging, has_trait (a removal drops a holder) and read_mask,
as on SQLite (test_profile_list_profiles)."""

from __future__ import annotations

from typing import Any

from ..service import test_profile_list_profiles as listing


async def test_paging_on_postgres(pg_profile_server: Any, event_factory: Any) -> None:
    async with pg_profile_server() as (stub, _running):
        await listing.test_pages_go_over_every_profile_in_customer_order(stub, event_factory)


async def test_has_trait_on_postgres(pg_profile_server: Any, event_factory: Any) -> None:
    async with pg_profile_server() as (stub, _running):
        await listing.test_has_trait_keeps_the_holders_and_a_removal_drops_one(stub, event_factory)


async def test_read_mask_on_postgres(pg_profile_server: Any, event_factory: Any) -> None:
    async with pg_profile_server() as (stub, _running):
        await listing.test_read_mask_selects_traits_and_fields(stub, event_factory)
