"""Two replicas on one PostgreSQL database: GetProfile never serves a profile older than
a write the other replica acknowledged, with a shared Redis cache and without any; the
de-duplication window holds across them; pruning runs on both."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from rapport.commitwatch import CommitNotifier
from rapport.grpctesting import expect_error
from rapport.pagination import PageTokens
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, ingestion
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.maintenance import prune_message_ids
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate
from redis import asyncio as redis_asyncio

from .._profile_support import DomainEncoder, InMemoryIdentityClient

PARENT = "workspaces/default"


async def identify(stub: Any, event_factory: Any, message_id: str, **traits: Any) -> Any:
    event = event_factory(message_id, type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits=traits)
    reply = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=[event]))
    return reply.results[0]


async def writes_on_one_are_read_on_the_other(a: Any, b: Any, event_factory: Any) -> None:
    first = await identify(a, event_factory, "m-0", n=0)
    name = f"{first.customer}/profile"
    for n in range(1, 4):
        seen = await b.GetProfile(pb.GetProfileRequest(name=name))  # cached on b's side
        assert seen.traits["n"].value.number_value == n - 1
        await identify(a, event_factory, f"m-{n}", n=n)
        seen = await b.GetProfile(pb.GetProfileRequest(name=name))
        assert seen.traits["n"].value.number_value == n and seen.event_count == n + 1
    removed = await b.RemoveTraits(pb.RemoveTraitsRequest(name=name, keys=["n"]))
    assert not removed.traits
    assert not (await a.GetProfile(pb.GetProfileRequest(name=name))).traits
    # A replay through the other replica is a duplicate.
    again = await identify(b, event_factory, "m-1", n=1)
    assert (
        again.status == pb.INGEST_STATUS_DUPLICATE
        and again.event == (await identify(a, event_factory, "m-1", n=1)).event
    )


async def test_replicas_with_a_shared_redis_cache(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str, redis_url: str
) -> None:
    shared = {
        "database_url": postgres_url,
        "database_schema": pg_schema,
        "redis_url": redis_url,
        "cache_key_prefix": f"t:{uuid.uuid4().hex}:",
    }
    async with profile_server(**shared) as (a, _), profile_server(**shared) as (b, _):
        await writes_on_one_are_read_on_the_other(a, b, event_factory)
    # The profiles were cached in Redis (under ids only: no personal data in keys).
    client = redis_asyncio.from_url(redis_url, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=shared["cache_key_prefix"] + "*")]
    finally:
        await client.aclose()
    assert any(key.endswith(":p") for key in keys) and any(key.endswith(":v") for key in keys)
    assert not [key for key in keys if "ann" in key]


async def test_replicas_without_redis_have_no_cache_to_go_stale(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    shared = {"database_url": postgres_url, "database_schema": pg_schema}
    async with profile_server(**shared) as (a, _), profile_server(**shared) as (b, _):
        await writes_on_one_are_read_on_the_other(a, b, event_factory)


async def test_two_replicas_prune_together_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engines = [create_engine(postgres_url, schema=pg_schema) for _ in range(2)]
    try:
        await migrate(engines[0], MIGRATIONS_DIR, schema=pg_schema)
        base = Dependencies(
            uow=unit_of_work_factory(engines[0]),
            identity=InMemoryIdentityClient(),
            notifier=CommitNotifier(),
            workspaces=("default",),
            page_tokens=PageTokens(None),
            encoder=DomainEncoder(),
        )
        events = [
            IncomingEvent(EventType.TRACK, f"m{i}", user_id=f"u{i % 7}", event="Viewed")
            for i in range(300)
        ]
        for start in range(0, 300, 100):
            await ingestion.ingest_events(
                commands.IngestEvents(PARENT, events[start : start + 100]), base
            )
        later = datetime.now(UTC) + timedelta(days=8)
        replicas = [
            replace(base, uow=unit_of_work_factory(engine), clock=lambda: later)
            for engine in engines
        ]
        pruned = await asyncio.gather(*(prune_message_ids(r, chunk=50) for r in replicas))
        pruned_more = await prune_message_ids(replicas[0], chunk=50)  # whatever was skipped
        assert sum(pruned) + pruned_more == 300
        async with base.uow(readonly=True) as uow:
            assert await uow.profiles.stored_customers("default", ["m0", "m299"]) == {}
            assert await uow.profiles.count_events("default") == 300
    finally:
        for engine in engines:
            await engine.dispose()


async def test_an_unreachable_redis_refuses_to_acknowledge_but_loses_nothing(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = {
        "database_url": postgres_url,
        "database_schema": pg_schema,
        "redis_url": f"redis://127.0.0.1:{closed}/0",
        "redis_timeout_seconds": 0.1,
    }
    async with profile_server(**settings) as (stub, _):
        event = event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"n": 1})
        info, _ = await expect_error(
            stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=[event])),
            grpc.StatusCode.UNAVAILABLE,
        )
        assert info.reason == "CACHE_INVALIDATION_FAILED"
        # Stored all the same (the retry the client makes is then a duplicate), and read
        # from the database while Redis is away.
        listed = await stub.ListEvents(
            pb.ListEventsRequest(parent="workspaces/default/customers/-")
        )
        [stored] = listed.events
        got = await stub.GetProfile(pb.GetProfileRequest(name=f"{stored.customer}/profile"))
        assert got.traits["n"].value.number_value == 1
