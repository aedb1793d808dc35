"""A computed trait's backfill and identity's changes made while it runs: an unmerge
between two chunks recomputes the customers' buckets from their events, and the
backfill then counts the rest of its events; every event is counted once, for the
customer it belongs to after the unmerge."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from rapport.grpctesting import eventually
from rapport.profile.adapters.identity_changes import (
    ChangeKind,
    CustomerIdentity,
    IdentityChange,
)
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, Identifier, IncomingEvent
from rapport.profile.service_layer import commands, computed_traits, ingestion
from rapport.profile.service_layer.identity_follow import IdentityFollower

from .._profile_support import OneChange
from .test_profile_handlers import make_deps

PARENT = "workspaces/default"


def order(message_id: str, **ids: str) -> IncomingEvent:
    return IncomingEvent(
        type=EventType.TRACK, message_id=message_id, event="Order Completed", **ids
    )


async def test_an_unmerge_during_a_backfill_counts_every_event_once(tmp_path: Path) -> None:
    deps, engine = await make_deps(tmp_path)
    deps = replace(deps, backfill_chunk_size=2)
    kai_orders = [order(f"k{n}", user_id="kai") for n in range(3)]
    anon_orders = [order(f"a{n}", anonymous_id="anon-k") for n in range(3)]
    first = await ingestion.ingest_events(commands.IngestEvents(PARENT, kai_orders), deps)
    second = await ingestion.ingest_events(commands.IngestEvents(PARENT, anon_orders), deps)
    # The order that carries both ids merges them (kai, the older, survives).
    both = order("kv", user_id="kai", anonymous_id="anon-k")
    [merged] = await ingestion.ingest_events(commands.IngestEvents(PARENT, [both]), deps)
    kai, anon = first[0].customer_id, second[0].customer_id
    assert merged.customer_id == kai != anon

    trait = await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "orders", Kind.COUNT, 0, "Order Completed", {}, ""),
        deps,
    )
    async with deps.uow(readonly=True) as uow:
        [job] = await uow.backfills.runnable_jobs(deps.clock(), 10)
    async with deps.uow() as uow:
        assert await uow.backfills.claim_job(
            job, now=deps.clock(), until=deps.clock() + timedelta(minutes=5), renew=False
        )
        await uow.commit()
    await computed_traits.run_backfill(deps, job, max_chunks=1)  # 2 of the 7 counted

    # Identity splits them again: anon takes back the events of its own identifier.
    unmerge = IdentityChange("000001", ChangeKind.UNMERGED, kai, (anon,))
    follower = IdentityFollower(
        deps,
        OneChange(  # type: ignore[arg-type]
            unmerge,
            {
                kai: CustomerIdentity(kai, (Identifier("user_id", "kai"),), ()),
                anon: CustomerIdentity(anon, (Identifier("anonymous_id", "anon-k"),), ()),
            },
        ),
    )
    following = asyncio.create_task(follower.run())
    try:
        await eventually(lambda: follower.stats.applied == 1, timeout=10)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)

    later = deps.clock() + timedelta(minutes=6)  # the first run's hold has expired
    finishing = replace(deps, clock=lambda: later)
    assert await computed_traits.run_due_backfills(finishing) == 1
    async with deps.uow(readonly=True) as uow:
        done = await uow.backfills.get_job("default", trait.trait_id, job.job_id)
        values = await computed_traits.values_of(uow, "default", [kai, anon], later)
    assert done is not None and (done.state, done.processed) == ("succeeded", 7)
    # kai: its three and the order that carried both ids; anon: its own three.
    assert {c: v["orders"] for c, v in values.items()} == {kai: 4, anon: 3}
    await engine.dispose()
