"""A computed trait's backfill stores its position with each chunk: a process that
stops mid-way leaves a job another process resumes (once its hold expires) from that
position, and every event is counted exactly once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from rapport.commitwatch import CommitNotifier
from rapport.pagination import PageTokens
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, computed_traits, ingestion, queries
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.sqlstore import create_engine, migrate

from .._profile_support import DomainEncoder, InMemoryIdentityClient, decoded_view

PARENT = "workspaces/default"


async def test_an_interrupted_backfill_resumes_from_its_stored_position(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    deps = Dependencies(
        uow=unit_of_work_factory(engine),
        identity=InMemoryIdentityClient(),
        notifier=CommitNotifier(),
        workspaces=("default",),
        page_tokens=PageTokens(None),
        encoder=DomainEncoder(),
        backfill_chunk_size=7,
    )
    events = [
        IncomingEvent(
            type=EventType.TRACK,
            message_id=f"m{n}",
            user_id=f"user-{n % 2}",
            event="Order Completed",
            properties={"total": float(n)},
        )
        for n in range(30)
    ]
    results = await ingestion.ingest_events(commands.IngestEvents(PARENT, events), deps)
    customers = {r.customer_id for r in results}
    trait = await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "spent", Kind.SUM, 0, "Order Completed", {}, "total"),
        deps,
    )
    async with deps.uow(readonly=True) as uow:
        [job] = await uow.backfills.runnable_jobs(deps.clock(), 10)
    assert job.total == 30
    async with deps.uow() as uow:
        assert await uow.backfills.claim_job(
            job, now=deps.clock(), until=deps.clock() + timedelta(minutes=5), renew=False
        )
        await uow.commit()
    # The first process counts two chunks, then stops (its hold stays).
    await computed_traits.run_backfill(deps, job, max_chunks=2)
    async with deps.uow(readonly=True) as uow:
        stopped = await uow.backfills.get_job("default", trait.trait_id, "initial")
        assert await uow.backfills.runnable_jobs(deps.clock(), 10) == []  # still held
    assert stopped is not None
    assert (stopped.state, stopped.processed) == ("running", 14)
    await engine.dispose()

    # Another process, after the hold expired, finishes from the stored position.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    later = deps.clock() + timedelta(minutes=6)
    second = replace(deps, uow=unit_of_work_factory(engine), clock=lambda: later)
    assert await computed_traits.run_due_backfills(second) == 1
    async with second.uow(readonly=True) as uow:
        done = await uow.backfills.get_job("default", trait.trait_id, "initial")
        values = await computed_traits.values_of(uow, "default", customers, later)
    assert done is not None and (done.state, done.processed) == ("succeeded", 30)
    by_customer = {
        c: sum(float(n) for n in range(30) if f"user-{n % 2}" == u)
        for c, u in ((r.customer_id, events[i].user_id) for i, r in enumerate(results))
    }
    assert {c: v["spent"] for c, v in values.items()} == by_customer
    view = decoded_view(
        await queries.get_profile(
            commands.GetProfile(f"{PARENT}/customers/{results[0].customer_id}/profile"), second
        )
    )
    assert view.computed_traits["spent"] == by_customer[results[0].customer_id]
    await engine.dispose()


async def test_buckets_that_left_the_window_are_pruned_and_values_stay(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    deps = Dependencies(
        uow=unit_of_work_factory(engine),
        identity=InMemoryIdentityClient(),
        notifier=CommitNotifier(),
        workspaces=("default",),
        page_tokens=PageTokens(None),
        encoder=DomainEncoder(),
    )
    await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "orders", Kind.COUNT, 30, "Order Completed", {}, ""),
        deps,
    )
    now = deps.clock()
    events = [
        IncomingEvent(
            type=EventType.TRACK,
            message_id=f"m{days}",
            user_id="ann",
            event="Order Completed",
            original_time=now - timedelta(days=days),
            sent_time=now,
        )
        for days in (0, 1, 40, 45)
    ]
    [result, *_] = await ingestion.ingest_events(commands.IngestEvents(PARENT, events), deps)
    customer = result.customer_id
    assert await computed_traits.prune_expired_buckets(deps) == 2
    assert await computed_traits.prune_expired_buckets(deps) == 0
    async with deps.uow(readonly=True) as uow:
        values = await computed_traits.values_of(uow, "default", [customer], now)
    assert values[customer] == {"orders": 2}
    await engine.dispose()
