"""Profile on PostgreSQL with an erasure committed by another replica after an ingest
resolved its events (see the SQLite test): held after the resolution, or inside its
write transaction before the customers' locks (which SQLite's single writer rules
out), the ingest writes to the customer identity names now, never to the erased one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from rapport.commitwatch import CommitNotifier
from rapport.pagination import PageTokens
from rapport.profile.adapters.computed_repository import ComputedTraitRepository
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.service_layer import ingestion
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.sqlstore import create_engine, migrate

from .._profile_support import DomainEncoder, InMemoryIdentityClient
from ..service.test_profile_erasure_races import (
    check_a_customer_identity_still_holds_lives_on,
    check_an_erasure_between_resolution_and_write,
    check_identifiers_blocked_by_the_erasure_are_rejected,
)

HELD_AT: dict[str, tuple[Any, str]] = {
    "after the resolution": (ingestion, "resolve_events"),
    "in the write, before the locks": (ComputedTraitRepository, "share_definitions"),
}


@pytest.fixture
async def pg_deps(postgres_url: str, pg_schema: str) -> AsyncIterator[Dependencies]:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=pg_schema)
        yield Dependencies(
            uow=unit_of_work_factory(engine),
            identity=InMemoryIdentityClient(),
            notifier=CommitNotifier(),
            workspaces=("default",),
            page_tokens=PageTokens(None),
            encoder=DomainEncoder(),
        )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("held_at", sorted(HELD_AT))
@pytest.mark.parametrize("cached", [False, True], ids=["asked identity", "identity cache"])
@pytest.mark.parametrize("erased_by", ["identity follower", "EraseProfile"])
async def test_an_ingest_resolved_before_an_erasure_writes_to_the_customer_of_now(
    pg_deps: Dependencies,
    monkeypatch: pytest.MonkeyPatch,
    erased_by: str,
    cached: bool,
    held_at: str,
) -> None:
    await check_an_erasure_between_resolution_and_write(
        pg_deps, monkeypatch, erased_by=erased_by, cached=cached, held_at=HELD_AT[held_at]
    )


async def test_a_customer_identity_still_holds_lives_on_after_erase_profile(
    pg_deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_a_customer_identity_still_holds_lives_on(pg_deps, monkeypatch)


async def test_identifiers_blocked_by_the_erasure_are_rejected(
    pg_deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_identifiers_blocked_by_the_erasure_are_rejected(pg_deps, monkeypatch)
