"""Background jobs fence the cached profiles they change before their commit.

A job that only invalidates after its commit leaves, when its process dies in between
(kill -9, OOM), every replica serving the profile from before the change from Redis
until the entry expires: the job does not run its committed work again. Here the
invalidation after the commit is "killed" (patched to do nothing) and GetProfile must
answer the new state. A fence that cannot be taken (Redis away) commits nothing, and
the job's next round does the work: it is never skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rapport.errors import NotFound
from rapport.profile.adapters.profile_cache import in_process_cache, redis_cache
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.hygiene import HygienePolicy, InactivityAction, InactivityRule
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.domain.segments import LifeStage
from rapport.profile.service_layer import (
    commands,
    computed_traits,
    computed_updates,
    hygiene,
    ingestion,
    life_stages,
    queries,
    segments,
)
from rapport.profile.service_layer.cache_invalidation import fence_before_commit
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.versionedcache import CacheInvalidationError, RedisVersionedCache

from .test_profile_cache_invalidation_retries import FailingInvalidations
from .test_profile_handlers import make_deps, profile_of

PARENT = "workspaces/default"
POLICY = f"{PARENT}/dataHygienePolicy"
LIFE_STAGE_MODEL = f"{PARENT}/lifeStageModel"


def viewed(message_id: str, user_id: str, *, days_ago: int = 0, deps: Any = None) -> IncomingEvent:
    moment = deps.clock() - timedelta(days=days_ago) if days_ago else None
    return IncomingEvent(
        EventType.TRACK, message_id, user_id=user_id, event="Viewed", original_time=moment
    )


async def ingest(deps: Dependencies, *events: IncomingEvent) -> list[str]:
    results = await ingestion.ingest_events(commands.IngestEvents(PARENT, list(events)), deps)
    return [r.customer_id for r in results]


async def cached_profile(deps: Dependencies, customer_id: str) -> Any:
    """The profile, read until Redis holds it (the version, then the entry, then a hit)."""
    for _ in range(3):
        view = await profile_of(deps, customer_id)
    return view


@pytest.fixture
async def shared(tmp_path: Path, redis_url: str) -> AsyncIterator[Dependencies]:
    """Dependencies whose profile cache is Redis (as replicas share it)."""
    deps, engine = await make_deps(tmp_path)
    cache = redis_cache(
        redis_url, timeout_seconds=1.0, key_prefix=f"test:{uuid.uuid4().hex}:", ttl_seconds=300
    )
    try:
        yield replace(deps, profile_cache=cache)
    finally:
        await cache.close()
        await engine.dispose()


@pytest.fixture
def killed_after_commit(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Called: from then on, no invalidation after a commit runs (what kill -9 leaves
    undone)."""

    def kill() -> None:
        async def never(*_args: object, **_kwargs: object) -> None:
            return None

        monkeypatch.setattr(RedisVersionedCache, "invalidate", never)

    return kill


@pytest.fixture
async def fence_fails(tmp_path: Path) -> AsyncIterator[tuple[Dependencies, FailingInvalidations]]:
    """Dependencies whose profile cache fails fences on demand (Redis away)."""
    deps, engine = await make_deps(tmp_path)
    cache = FailingInvalidations(in_process_cache(100))
    try:
        yield replace(deps, profile_cache=cache), cache  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def create_everyone(deps: Dependencies) -> None:
    await segments.create_segment(
        commands.CreateSegment(PARENT, "Everyone", "true", segment_id="everyone"), deps
    )


async def update_model(deps: Dependencies) -> None:
    await life_stages.update_life_stage_model(
        commands.UpdateLifeStageModel(LIFE_STAGE_MODEL, [LifeStage("known", "true")]), deps
    )


async def create_views(deps: Dependencies) -> None:
    await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(
            PARENT, "views", Kind.COUNT, 0, "Viewed", {}, "", trait_id="views"
        ),
        deps,
    )


async def delete_inactive(deps: Dependencies) -> None:
    rule = InactivityRule("Email Opened", 730, InactivityAction.DELETE)
    await hygiene.update_policy(
        commands.UpdateDataHygienePolicy(POLICY, HygienePolicy("default", inactivity=rule)), deps
    )


async def expect_erased(deps: Dependencies, customer_id: str) -> None:
    with pytest.raises(NotFound):
        await queries.get_profile(
            commands.GetProfile(f"{PARENT}/customers/{customer_id}/profile"), deps
        )


# -- killed after the commit: the fence keeps the cached profile from being served ----


async def test_a_segment_evaluation_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    [ann] = await ingest(shared, viewed("a1", "ann"))
    assert (await cached_profile(shared, ann)).segment_ids == ()
    await create_everyone(shared)
    killed_after_commit()
    assert await segments.evaluate_due_segments(shared) == 1
    assert (await profile_of(shared, ann)).segment_ids == ("everyone",)


async def test_a_life_stage_evaluation_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    [ann] = await ingest(shared, viewed("a1", "ann"))
    assert (await cached_profile(shared, ann)).life_stage == ""
    await update_model(shared)
    killed_after_commit()
    assert await life_stages.evaluate_due_models(shared) == 1
    assert (await profile_of(shared, ann)).life_stage == "known"


async def test_a_backfill_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    [ann] = await ingest(shared, viewed("a1", "ann"))
    await create_views(shared)  # counts ann's stored event in the background
    assert (await cached_profile(shared, ann)).computed_traits.get("views", 0) == 0
    killed_after_commit()
    assert await computed_traits.run_due_backfills(shared) == 1
    assert (await profile_of(shared, ann)).computed_traits["views"] == 1


async def test_an_inactivity_erasure_killed_after_its_commit_is_not_answered_from_redis(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    [ann] = await ingest(shared, viewed("a1", "ann", days_ago=800, deps=shared))
    await delete_inactive(shared)
    assert (await cached_profile(shared, ann)).event_count == 1
    killed_after_commit()
    stats = await hygiene.sweep(shared, chunk=10)
    assert stats.customers_erased == 1
    await expect_erased(shared, ann)


async def test_a_retention_sweep_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    [ann, _] = await ingest(
        shared, viewed("a1", "ann", days_ago=100, deps=shared), viewed("a2", "ann")
    )
    await hygiene.update_policy(
        commands.UpdateDataHygienePolicy(
            POLICY, HygienePolicy("default", default_retention_days=30)
        ),
        shared,
    )
    assert (await cached_profile(shared, ann)).event_count == 2
    killed_after_commit()
    assert (await hygiene.sweep(shared, chunk=10)).events_deleted == 1
    assert (await profile_of(shared, ann)).event_count == 1


async def test_an_erase_profile_killed_after_its_commit_is_not_answered_from_redis(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    # A client that gives up after the process died never retries: nothing else would
    # invalidate the erased profile.
    [ann] = await ingest(shared, viewed("a1", "ann"))
    await cached_profile(shared, ann)
    killed_after_commit()
    await hygiene.erase_profile(commands.EraseProfile(f"{PARENT}/customers/{ann}/profile"), shared)
    await expect_erased(shared, ann)


async def test_a_segment_deletion_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    # Its retry would find no segment to delete, and invalidate nothing.
    [ann] = await ingest(shared, viewed("a1", "ann"))
    await create_everyone(shared)
    await segments.evaluate_due_segments(shared)
    assert (await cached_profile(shared, ann)).segment_ids == ("everyone",)
    killed_after_commit()
    await segments.delete_segment(commands.DeleteSegment(f"{PARENT}/segments/everyone"), shared)
    assert (await profile_of(shared, ann)).segment_ids == ()


async def backfilled_views(deps: Dependencies) -> str:
    """ann, with her computed trait "views" (1) in her cached profile."""
    [ann] = await ingest(deps, viewed("a1", "ann"))
    await create_views(deps)
    await computed_traits.run_due_backfills(deps)
    assert (await cached_profile(deps, ann)).computed_traits == {"views": 1}
    return ann


async def test_a_computed_trait_renamed_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    # Its retry would find the trait renamed already, and invalidate nothing.
    ann = await backfilled_views(shared)
    killed_after_commit()
    await computed_updates.update_computed_trait(
        commands.UpdateComputedTrait(
            f"{PARENT}/computedTraits/views", "seen", None, 0, "", {}, "", update_mask=("key",)
        ),
        shared,
    )
    assert (await profile_of(shared, ann)).computed_traits == {"seen": 1}


async def test_a_computed_trait_deleted_killed_after_its_commit_shows_in_profiles(
    shared: Dependencies, killed_after_commit: Callable[[], None]
) -> None:
    # Its retry would find no trait to delete, and invalidate nothing.
    ann = await backfilled_views(shared)
    killed_after_commit()
    await computed_traits.delete_computed_trait(
        commands.DeleteComputedTrait(f"{PARENT}/computedTraits/views"), shared
    )
    assert (await profile_of(shared, ann)).computed_traits == {}


# -- the fence cannot be taken: nothing committed, the next round does the work -------


async def test_a_segment_evaluation_that_cannot_fence_is_done_at_the_next_round(
    fence_fails: tuple[Dependencies, FailingInvalidations],
) -> None:
    deps, cache = fence_fails
    [ann] = await ingest(deps, viewed("a1", "ann"))
    await create_everyone(deps)
    cache.fence_failures = 1
    with pytest.raises(CacheInvalidationError):
        await segments.evaluate_due_segments(deps)
    assert cache.fence_failures == 0
    assert (await profile_of(deps, ann)).segment_ids == ()  # nothing committed
    # Due again at once, not once the evaluator's five-minute hold lapses.
    assert await segments.evaluate_due_segments(deps) == 1
    assert (await profile_of(deps, ann)).segment_ids == ("everyone",)


async def test_a_life_stage_evaluation_that_cannot_fence_is_done_at_the_next_round(
    fence_fails: tuple[Dependencies, FailingInvalidations],
) -> None:
    deps, cache = fence_fails
    [ann] = await ingest(deps, viewed("a1", "ann"))
    await update_model(deps)
    cache.fence_failures = 1
    with pytest.raises(CacheInvalidationError):
        await life_stages.evaluate_due_models(deps)
    assert cache.fence_failures == 0
    assert (await profile_of(deps, ann)).life_stage == ""
    assert await life_stages.evaluate_due_models(deps) == 1
    assert (await profile_of(deps, ann)).life_stage == "known"


async def test_a_backfill_that_cannot_fence_resumes_at_the_next_round(
    fence_fails: tuple[Dependencies, FailingInvalidations],
) -> None:
    deps, cache = fence_fails
    [ann] = await ingest(deps, viewed("a1", "ann"))
    await create_views(deps)
    cache.fence_failures = 1
    with pytest.raises(CacheInvalidationError):
        await computed_traits.run_due_backfills(deps)
    assert cache.fence_failures == 0
    assert (await profile_of(deps, ann)).computed_traits.get("views", 0) == 0
    assert await computed_traits.run_due_backfills(deps) == 1
    assert (await profile_of(deps, ann)).computed_traits["views"] == 1


async def test_an_inactivity_erasure_that_cannot_fence_is_done_at_the_next_sweep(
    fence_fails: tuple[Dependencies, FailingInvalidations],
) -> None:
    deps, cache = fence_fails
    [ann] = await ingest(deps, viewed("a1", "ann", days_ago=800, deps=deps))
    await delete_inactive(deps)
    cache.fence_failures = 1
    with pytest.raises(CacheInvalidationError):
        await hygiene.sweep(deps, chunk=10)
    assert cache.fence_failures == 0
    assert (await profile_of(deps, ann)).event_count == 1
    assert (await hygiene.sweep(deps, chunk=10)).customers_erased == 1
    await expect_erased(deps, ann)


async def test_a_retention_sweep_that_cannot_fence_deletes_at_the_next_sweep(
    fence_fails: tuple[Dependencies, FailingInvalidations],
) -> None:
    deps, cache = fence_fails
    [ann, _] = await ingest(deps, viewed("a1", "ann", days_ago=100, deps=deps), viewed("a2", "ann"))
    await hygiene.update_policy(
        commands.UpdateDataHygienePolicy(
            POLICY, HygienePolicy("default", default_retention_days=30)
        ),
        deps,
    )
    cache.fence_failures = 1
    with pytest.raises(CacheInvalidationError):
        await hygiene.sweep(deps, chunk=10)
    assert (await profile_of(deps, ann)).event_count == 2
    assert (await hygiene.sweep(deps, chunk=10)).events_deleted == 1
    assert (await profile_of(deps, ann)).event_count == 1


# -- cost: without Redis, fencing is free ----------------------------------------------


class Unreadable:
    """Customers that must not be read (iterating them is fine: a set's iterator is
    made at no cost; it is each customer read that costs)."""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raise AssertionError("the customers were read")


async def test_the_in_process_cache_fences_without_reading_the_customers(
    tmp_path: Path,
) -> None:
    deps, engine = await make_deps(tmp_path)
    try:
        for cache in (in_process_cache(10), deps.profile_cache):  # in-process, none
            fencing = replace(deps, profile_cache=cache)
            customers: Iterable[str] = Unreadable()
            assert await fence_before_commit(fencing, "default", customers) is None
    finally:
        await engine.dispose()
