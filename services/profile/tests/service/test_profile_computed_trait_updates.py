"""UpdateComputedTrait over gRPC: masks and definitions checked, a changed definition
recounted from scratch by a new backfill job, a new key alone just renames."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2
from rapport.commitwatch import CommitNotifier
from rapport.grpctesting import eventually, expect_error
from rapport.pagination import PageTokens
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, computed_traits, computed_updates, ingestion
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate

from .._profile_support import DomainEncoder, InMemoryIdentityClient
from .test_profile_computed_traits import PARENT, Stub, create, ingest, order


def update(trait: pb.ComputedTrait, *paths: str) -> pb.UpdateComputedTraitRequest:
    return pb.UpdateComputedTraitRequest(
        computed_trait=trait, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


async def finished(stub: Stub, job_name: str) -> pb.BackfillJob:
    async def done() -> pb.BackfillJob | None:
        job = await stub.GetBackfillJob(pb.GetBackfillJobRequest(name=job_name))
        return job if job.state == pb.BACKFILL_JOB_STATE_SUCCEEDED else None

    return await eventually(done, timeout=10)


async def value(stub: Stub, customer: str, key: str) -> float | None:
    view = await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
    return view.computed_traits[key].number_value if key in view.computed_traits else None


async def test_a_changed_definition_is_recounted_by_a_new_job(profile: Stub) -> None:
    customers = await ingest(
        profile, *(order(f"o{n}", f"user-{n % 3}", n % 5, total=n) for n in range(30))
    )
    ann = customers[0]  # user-0: orders 0, 3, ..., 27
    trait = await create(profile, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
    await finished(profile, trait.backfill_job)
    assert await value(profile, ann, "orders") == 10

    updated = await profile.UpdateComputedTrait(
        update(
            pb.ComputedTrait(
                name=trait.name, kind=pb.COMPUTED_TRAIT_KIND_SUM, property="total", key="ignored"
            ),
            "kind",
            "property",
        )
    )
    assert updated.key == "orders"  # not in the mask: kept
    assert updated.kind == pb.COMPUTED_TRAIT_KIND_SUM and updated.property == "total"
    assert updated.event == "Order Completed" and updated.window_days == 90
    assert updated.backfill_job != trait.backfill_job
    job = await finished(profile, updated.backfill_job)
    assert (job.processed_event_count, job.total_event_count) == (30, 30)
    # Summed from scratch: nothing left of the counts.
    assert await value(profile, ann, "orders") == sum(range(0, 30, 3))
    jobs = await profile.ListBackfillJobs(pb.ListBackfillJobsRequest(parent=trait.name))
    assert [j.name for j in jobs.backfill_jobs] == [trait.backfill_job, updated.backfill_job]
    got = await profile.GetComputedTrait(pb.GetComputedTraitRequest(name=trait.name))
    assert got == updated

    # Kept up to date by ingestion with the new definition.
    await ingest(profile, order("late", "user-0", total=100))
    assert await value(profile, ann, "orders") == sum(range(0, 30, 3)) + 100

    # A narrower window recounts too: only the events of today (n % 5 == 0).
    narrow = await profile.UpdateComputedTrait(
        update(pb.ComputedTrait(name=trait.name, window_days=1), "window_days")
    )
    assert narrow.backfill_job not in (trait.backfill_job, updated.backfill_job)
    await finished(profile, narrow.backfill_job)
    assert (
        await value(profile, ann, "orders") == sum(n for n in range(0, 30, 3) if n % 5 == 0) + 100
    )

    # A new key alone renames: same job, same values.
    renamed = await profile.UpdateComputedTrait(
        update(pb.ComputedTrait(name=trait.name, key="spent_today"), "key")
    )
    assert renamed.backfill_job == narrow.backfill_job
    assert await value(profile, ann, "orders") is None
    assert (
        await value(profile, ann, "spent_today")
        == sum(n for n in range(0, 30, 3) if n % 5 == 0) + 100
    )


async def test_updates_are_checked(profile: Stub) -> None:
    trait = await create(profile, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
    await create(profile, "spent", pb.COMPUTED_TRAIT_KIND_SUM, "total")
    await expect_error(
        profile.UpdateComputedTrait(
            update(pb.ComputedTrait(name=trait.name, key="x"), "key", "create_time")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="update_mask.paths[1]",
    )
    await expect_error(
        profile.UpdateComputedTrait(
            update(pb.ComputedTrait(name=trait.name, kind=pb.COMPUTED_TRAIT_KIND_MAX), "kind")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.property",
    )
    await expect_error(
        profile.UpdateComputedTrait(
            update(pb.ComputedTrait(name=trait.name, window_days=4000), "window_days")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.window_days",
    )
    # An empty mask means every field: an unset kind is refused.
    await expect_error(
        profile.UpdateComputedTrait(
            pb.UpdateComputedTraitRequest(computed_trait=pb.ComputedTrait(name=trait.name, key="k"))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.kind",
    )
    await expect_error(
        profile.UpdateComputedTrait(update(pb.ComputedTrait(name=trait.name, key="spent"), "key")),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    await expect_error(
        profile.UpdateComputedTrait(
            update(pb.ComputedTrait(name=f"{PARENT}/computedTraits/nope", key="n"), "key")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        profile.UpdateComputedTrait(
            update(pb.ComputedTrait(name="workspaces/other/computedTraits/x", key="n"), "key")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        profile.UpdateComputedTrait(update(pb.ComputedTrait(name="computedTraits/x"), "key")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.name",
    )
    got = await profile.GetComputedTrait(pb.GetComputedTraitRequest(name=trait.name))
    assert got.key == "orders" and got.kind == pb.COMPUTED_TRAIT_KIND_COUNT  # nothing saved
    assert got.backfill_job == trait.backfill_job


async def test_an_update_mid_backfill_cancels_it_and_recounts(tmp_path: Path) -> None:
    """A job running when the definition changes stops at its next chunk (cancelled);
    the new job counts every event once by the new definition."""
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
            user_id="ann",
            event="Order Completed",
            properties={"total": float(n)},
        )
        for n in range(30)
    ]
    [result, *_] = await ingestion.ingest_events(commands.IngestEvents(PARENT, events), deps)
    trait = await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "orders", Kind.COUNT, 0, "Order Completed", {}, ""),
        deps,
    )
    async with deps.uow(readonly=True) as uow:
        [job] = await uow.backfills.runnable_jobs(deps.clock(), 10)
    await computed_traits.run_backfill(deps, job, max_chunks=2)  # 14 of 30 counted

    name = f"{PARENT}/computedTraits/{trait.trait_id}"
    updated = await computed_updates.update_computed_trait(
        commands.UpdateComputedTrait(
            name, "", Kind.SUM, 0, "", {}, "total", update_mask=("kind", "property")
        ),
        deps,
    )
    assert updated.job_id != job.job_id and updated.key == "orders"
    await computed_traits.run_backfill(deps, job)  # the old job's holder: stops at once
    async with deps.uow(readonly=True) as uow:
        old = await uow.backfills.get_job("default", trait.trait_id, job.job_id)
        [new] = await uow.backfills.runnable_jobs(deps.clock(), 10)
        values = await computed_traits.values_of(uow, "default", [result.customer_id], deps.clock())
    assert old is not None and (old.state, old.processed) == ("cancelled", 14)
    assert new.job_id == updated.job_id and new.total == 30
    assert values[result.customer_id] == {}  # counts cleared, nothing summed yet
    assert await computed_traits.run_due_backfills(deps) == 1
    async with deps.uow(readonly=True) as uow:
        done = await uow.backfills.get_job("default", trait.trait_id, updated.job_id)
        values = await computed_traits.values_of(uow, "default", [result.customer_id], deps.clock())
    assert done is not None and (done.state, done.processed) == ("succeeded", 30)
    assert values[result.customer_id] == {"orders": float(sum(range(30)))}
    await engine.dispose()
