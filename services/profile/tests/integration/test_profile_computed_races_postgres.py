"""A computed trait created, changed or deleted while an ingest is writing, on PostgreSQL
(where ingests run side by side): every event is counted once, by the backfill or by
the ingest, never by neither nor both, and a deleted trait leaves no buckets behind.
The ingest is held right after it read the definitions. And a merge committed while a
backfill chunk is between reading its events and locking their customers: the merged
customer's events count for the survivor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rapport.grpctesting import HeldAfterRead, eventually
from rapport.profile.adapters.backfill_repository import BackfillRepository
from rapport.profile.adapters.computed_repository import ComputedTraitRepository
from rapport.profile.v1 import profile_service_pb2 as pb

from ..service.test_profile_computed_traits import create, ingest, order


async def create_orders_trait_with_its_id(stub: Any) -> pb.ComputedTrait:
    return await stub.CreateComputedTrait(
        pb.CreateComputedTraitRequest(
            parent="workspaces/default",
            computed_trait_id="orders",
            computed_trait=pb.ComputedTrait(
                key="orders", kind=pb.COMPUTED_TRAIT_KIND_COUNT, event="Order Completed"
            ),
        )
    )


async def backfilled(stub: Any, trait: pb.ComputedTrait) -> None:
    async def done() -> bool:
        job = await stub.GetBackfillJob(pb.GetBackfillJobRequest(name=trait.backfill_job))
        return job.state == pb.BACKFILL_JOB_STATE_SUCCEEDED

    await eventually(done, timeout=10)


@pytest.mark.parametrize("change", ["create", "update", "delete"])
async def test_a_trait_defined_during_an_ingest_counts_its_events_once(
    change: str,
    profile_server: Any,
    postgres_url: str,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold = HeldAfterRead(
        monkeypatch, ComputedTraitRepository, "all_of", armed=False, hold_empty=True
    )
    async with profile_server(database_url=postgres_url, database_schema=pg_schema) as (stub, _):
        if change == "update":
            # Counting another event first: the update changes what is counted.
            trait = await create(stub, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
            trait.event = "Nothing Counted"
            trait = await stub.UpdateComputedTrait(
                pb.UpdateComputedTraitRequest(computed_trait=trait)
            )
        elif change == "delete":
            # Deleted while the held ingest counts for it, then made again with its id.
            trait = await create_orders_trait_with_its_id(stub)
        (ann, *_) = await ingest(stub, *(order(f"early-{n}", "ann", 1) for n in range(3)))

        hold.armed = True
        writing = asyncio.create_task(
            ingest(stub, *(order(f"held-{n}", "ann", 1) for n in range(2)))
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        if change == "create":
            defining = asyncio.create_task(create(stub, "orders", pb.COMPUTED_TRAIT_KIND_COUNT))
        elif change == "delete":
            defining = asyncio.ensure_future(
                stub.DeleteComputedTrait(pb.DeleteComputedTraitRequest(name=trait.name))
            )
        else:
            trait.event = "Order Completed"
            defining = asyncio.ensure_future(
                stub.UpdateComputedTrait(pb.UpdateComputedTraitRequest(computed_trait=trait))
            )
        await asyncio.sleep(0.3)  # the definition waits for the held ingest, or not
        hold.release.set()
        await writing
        trait = await defining
        if change == "delete":
            trait = await create_orders_trait_with_its_id(stub)
        await ingest(stub, order("after", "ann", 1))

        await backfilled(stub, trait)
        view = await stub.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
        assert view.computed_traits["orders"].number_value == 6


async def test_a_merge_while_a_backfill_chunk_reads_counts_for_the_survivor(
    pg_profile_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first chunk, held after its read, before its customers' locks.
    hold = HeldAfterRead(monkeypatch, BackfillRepository, "events_after")
    async with pg_profile_server(backfill_chunk_size=100) as (stub, _):
        (kai, *_) = await ingest(stub, *(order(f"k{n}", "kai") for n in range(3)))
        anonymous = [order(f"a{n}", "") for n in range(3)]
        for event in anonymous:
            event.anonymous_id = "anon-k"
        (anon, *_) = await ingest(stub, *anonymous)
        trait = await create(stub, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
        await asyncio.wait_for(hold.reached.wait(), 10)
        # Carrying both ids, it merges anon into kai (the older) and counts itself.
        both = order("kv", "kai")
        both.anonymous_id = "anon-k"
        assert await ingest(stub, both) == [kai] != [anon]
        hold.release.set()

        await backfilled(stub, trait)
        view = await stub.GetProfile(pb.GetProfileRequest(name=f"{kai}/profile"))
        assert view.computed_traits["orders"].number_value == 7
