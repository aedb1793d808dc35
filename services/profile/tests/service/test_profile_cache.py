"""GetProfile from the cache: a hit reads no database; a write invalidates it before it
is acknowledged; a merged-away customer's name is never cached."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rapport.profile.adapters.profile_cache import in_process_cache
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, ingestion, queries, traits
from rapport.profile.service_layer.dependencies import Dependencies

from .._profile_support import decoded_view
from .test_profile_handlers import make_deps

PARENT = "workspaces/default"


def identify(message_id: str, **fields: Any) -> IncomingEvent:
    return IncomingEvent(EventType.IDENTIFY, message_id, **fields)


async def ingest(deps: Dependencies, *events: IncomingEvent) -> list[Any]:
    return await ingestion.ingest_events(commands.IngestEvents(PARENT, list(events)), deps)


def profile_name(customer_id: str) -> str:
    return f"workspaces/default/customers/{customer_id}/profile"


def no_database(**_: Any) -> Any:
    raise AssertionError("the database was read")


async def test_hits_read_no_database_and_writes_invalidate(tmp_path: Path) -> None:
    base, engine = await make_deps(tmp_path)
    deps = replace(base, profile_cache=in_process_cache(100))
    try:
        [ann] = await ingest(deps, identify("m1", user_id="ann", traits={"plan": "free"}))
        name = profile_name(ann.customer_id)
        await queries.get_profile(commands.GetProfile(name), deps)  # a miss: read, cached
        cached = replace(deps, uow=no_database)
        view = decoded_view(await queries.get_profile(commands.GetProfile(name), cached))
        assert view.traits["plan"].value == "free"

        await ingest(deps, identify("m2", user_id="ann", traits={"plan": "pro"}))
        with pytest.raises(AssertionError, match="the database was read"):
            await queries.get_profile(commands.GetProfile(name), cached)
        view = decoded_view(await queries.get_profile(commands.GetProfile(name), deps))
        assert view.traits["plan"].value == "pro"
        await traits.remove_traits(commands.RemoveTraits(name, ["plan"]), deps)
        view = decoded_view(await queries.get_profile(commands.GetProfile(name), deps))
        assert view.traits == {}
    finally:
        await engine.dispose()


async def test_a_merged_away_customers_name_is_read_every_time(tmp_path: Path) -> None:
    base, engine = await make_deps(tmp_path)
    deps = replace(base, profile_cache=in_process_cache(100))
    try:
        [known] = await ingest(deps, identify("k1", user_id="ann"))
        [visitor] = await ingest(deps, identify("a1", anonymous_id="anon"))
        await ingest(deps, identify("l1", user_id="ann", anonymous_id="anon"))
        name = profile_name(visitor.customer_id)
        view = decoded_view(await queries.get_profile(commands.GetProfile(name), deps))
        assert view.customer_id == known.customer_id and view.event_count == 3
        with pytest.raises(AssertionError, match="the database was read"):
            await queries.get_profile(commands.GetProfile(name), replace(deps, uow=no_database))
    finally:
        await engine.dispose()
