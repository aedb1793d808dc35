"""Message-id de-duplication: in the event's transaction, for a window, then pruned
(by a task that keeps no state, so restarts and several replicas are fine); and the
arrival order of batches kept per customer."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rapport.profile.adapters.identity_client import Resolution
from rapport.profile.domain.model import EventType, IncomingEvent, IngestStatus
from rapport.profile.service_layer import commands, ingestion
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.maintenance import prune_message_ids

from .._profile_support import InMemoryIdentityClient
from .test_profile_handlers import make_deps

PARENT = "workspaces/default"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def track(message_id: str, user: str = "ann") -> IncomingEvent:
    return IncomingEvent(EventType.TRACK, message_id, user_id=user, event="Viewed")


async def ingest(deps: Dependencies, *events: IncomingEvent) -> list[Any]:
    return await ingestion.ingest_events(commands.IngestEvents(PARENT, list(events)), deps)


async def recorded(deps: Dependencies) -> int:
    async with deps.uow(readonly=True) as uow:
        return len(await uow.profiles.stored_customers("default", [f"m{i}" for i in range(10)]))


async def events_stored(deps: Dependencies) -> int:
    async with deps.uow(readonly=True) as uow:
        return await uow.profiles.count_events("default")


async def test_a_replay_within_the_window_is_a_duplicate_and_after_it_is_new(
    tmp_path: Path,
) -> None:
    base, engine = await make_deps(tmp_path)
    clock = Clock()
    deps = replace(base, clock=clock, dedup_window=timedelta(days=7))
    try:
        [first] = await ingest(deps, track("m1"))
        clock.now = T0 + timedelta(days=6, hours=23)
        [again] = await ingest(deps, track("m1"))
        assert (first.status, again.status) == (IngestStatus.ACCEPTED, IngestStatus.DUPLICATE)
        assert again.event_id == first.event_id
        # Past the window (not pruned yet): the message id is new again.
        clock.now = T0 + timedelta(days=7, seconds=1)
        [late] = await ingest(deps, track("m1"))
        assert late.status is IngestStatus.ACCEPTED and late.event_id != first.event_id
        assert await events_stored(deps) == 2
        # ... and the window starts over from that event.
        clock.now += timedelta(days=1)
        [dup] = await ingest(deps, track("m1"))
        assert dup.status is IngestStatus.DUPLICATE and dup.event_id == late.event_id
    finally:
        await engine.dispose()


async def test_pruning_removes_only_records_older_than_the_window(tmp_path: Path) -> None:
    base, engine = await make_deps(tmp_path)
    clock = Clock()
    deps = replace(base, clock=clock, dedup_window=timedelta(days=7))
    try:
        await ingest(deps, track("m0"), track("m1"), track("m2"))
        clock.now = T0 + timedelta(days=3)
        await ingest(deps, track("m3"), track("m4"))
        clock.now = T0 + timedelta(days=5)
        await ingest(deps, track("m5"))
        assert await recorded(deps) == 6
        clock.now = T0 + timedelta(days=7, hours=1)
        # A fresh pruner (nothing remembered: as after a restart), one row per chunk.
        assert await prune_message_ids(deps, chunk=1) == 3
        assert await recorded(deps) == 3
        assert await prune_message_ids(deps, chunk=1) == 0
        clock.now = T0 + timedelta(days=13)
        assert await prune_message_ids(deps, chunk=100) == 3
        assert await recorded(deps) == 0
        assert await events_stored(deps) == 6  # pruning forgets message ids, not events
    finally:
        await engine.dispose()


class SlowFirstIdentity(InMemoryIdentityClient):
    """Holds the next call until released: that batch resolves after later ones."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.hold_next = False

    async def batch_resolve(self, workspace: str, observations: Any) -> list[Resolution]:
        if self.hold_next:
            self.hold_next = False
            await asyncio.wait_for(self.release.wait(), 5)
        return await super().batch_resolve(workspace, observations)


async def test_a_customers_batches_are_written_in_arrival_order(tmp_path: Path) -> None:
    base, engine = await make_deps(tmp_path)
    identity = SlowFirstIdentity()
    deps = replace(base, identity=identity)
    try:
        await ingest(deps, track("warm-up"))
        identity.hold_next = True

        def identify(message_id: str, plan: str) -> IncomingEvent:
            # Same event time: the later applied wins, so arrival order decides.
            return IncomingEvent(
                EventType.IDENTIFY,
                message_id,
                user_id="ann",
                traits={"plan": plan},
                original_time=T0,
            )

        first = asyncio.create_task(ingest(deps, identify("b1", "first")))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(ingest(deps, identify("b2", "second")))
        await asyncio.sleep(0.05)
        assert not first.done() and not second.done()  # the second waits for the first
        identity.release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        async with deps.uow(readonly=True) as uow:
            logged = await uow.profiles.signals_after("default", 0, (), 100)
            [customer] = {s.customer_id for s in logged}
            traits = (await uow.traits.of_customers.read("default", [customer]))[customer]
        seen = [s.payload for s in logged if s.kind == "event_seen"]
        assert ['"b1"' in p for p in seen[1:]] == [True, False]
        assert traits["plan"].value == "second"
    finally:
        await engine.dispose()
