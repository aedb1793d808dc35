"""The core scenario, signals and concurrent replays against PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rapport.profile.adapters.tables import metadata
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate, schema_differences

from .._profile_support import store_unstreamable_signals, watch

PARENT = "workspaces/default"


async def test_core_scenario_on_postgres(
    profile_server: Any, scenario: Callable[..., Any], postgres_url: str, pg_schema: str
) -> None:
    async with profile_server(database_url=postgres_url, database_schema=pg_schema) as (stub, _):
        await scenario(stub)


async def test_concurrent_replays_and_signals_on_postgres(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    async with profile_server(database_url=postgres_url, database_schema=pg_schema) as (stub, _):
        batch = [
            event_factory(f"m-{i}", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"n": i})
            for i in range(5)
        ]
        answers = await asyncio.gather(
            *(
                stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=batch))
                for _ in range(4)
            ),
            return_exceptions=True,
        )
        assert not [a for a in answers if isinstance(a, BaseException)]
        accepted = sorted(
            r.message_id
            for a in answers
            for r in a.results
            if r.status == pb.INGEST_STATUS_ACCEPTED
        )
        assert accepted == [f"m-{i}" for i in range(5)]

        listed = await stub.ListEvents(
            pb.ListEventsRequest(parent="workspaces/default/customers/-", page_size=100)
        )
        assert len(listed.events) == 5

        call = stub.WatchSignals(
            pb.WatchSignalsRequest(parent=PARENT, kinds=[pb.SIGNAL_KIND_EVENT_SEEN])
        )
        seen: list[pb.Signal] = []
        async with asyncio.timeout(5):
            async for response in call:
                seen.append(response.signal)
                if len(seen) == 5:
                    break
        call.cancel()
        assert sorted(s.event_seen.event.message_id for s in seen) == accepted
        profile = await stub.GetProfile(
            pb.GetProfileRequest(name=answers[0].results[0].customer + "/profile")
        )
        assert profile.event_count == 5
        assert profile.traits["n"].value.number_value == 4


async def test_migration_matches_the_tables_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=pg_schema)
        diff = await schema_differences(engine, metadata)
    finally:
        await engine.dispose()
    assert diff == []


async def test_overlapping_batches_in_opposite_orders_all_succeed(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    # Different customers (no shared customer lock) inserting the same message ids in
    # opposite orders: the classic deadlock shape for unique-index inserts.
    async with profile_server(database_url=postgres_url, database_schema=pg_schema) as (stub, _):
        ids = [f"m-{i:03}" for i in range(200)]

        def batch(user: str, order: list[str]) -> pb.IngestEventsRequest:
            return pb.IngestEventsRequest(
                parent=PARENT, events=[event_factory(m, user_id=user) for m in order]
            )

        requests = [
            batch(f"user-{n}", ids if n % 2 == 0 else list(reversed(ids))) for n in range(6)
        ]
        # return_exceptions: never leave calls in flight (mid-transaction) when one fails.
        answers = await asyncio.gather(
            *(stub.IngestEvents(r) for r in requests), return_exceptions=True
        )
        assert not [a for a in answers if isinstance(a, BaseException)]
        accepted = [
            r.message_id
            for a in answers
            for r in a.results
            if r.status == pb.INGEST_STATUS_ACCEPTED
        ]
        assert sorted(accepted) == ids
        listed = await stub.ListEvents(
            pb.ListEventsRequest(parent="workspaces/default/customers/-", page_size=1000)
        )
        assert len(listed.events) == len(ids)


async def test_unstreamable_signals_are_skipped_on_postgres(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    max_bytes = 256 * 1024
    settings = {
        "database_url": postgres_url,
        "database_schema": pg_schema,
        "max_message_bytes": max_bytes,
        "list_page_max_bytes": max_bytes // 2,
    }
    async with profile_server(**settings) as (stub, _):
        before = pb.IngestEventsRequest(parent=PARENT, events=[event_factory("before")])
        await stub.IngestEvents(before)
        bad = await store_unstreamable_signals(
            postgres_url, schema=pg_schema, max_bytes=max_bytes, invalid_json=False
        )
        after = pb.IngestEventsRequest(parent=PARENT, events=[event_factory("after")])
        await stub.IngestEvents(after)
        received = await watch(stub, 2)
    assert [r.signal.event_seen.event.message_id for r in received] == ["before", "after"]
    assert [r.skipped_signal_count for r in received] == [0, len(bad)] == [0, 4]
