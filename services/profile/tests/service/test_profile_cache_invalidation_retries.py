"""Background work leaves no stale GetProfile answer behind, even when the cache could
not be invalidated at the first try (Redis away for a moment): after its commit, the
invalidation of the customers it changed is retried until it succeeds.

The identity follower used to retry the whole change instead; the change was committed,
so the retry found its cursor saved, did nothing and invalidated nothing: the cache went
on answering the profile from before the change (an erased one too) until it expired.
A segment's evaluation failed, and its rerun found no membership left to change.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rapport.errors import NotFound
from rapport.grpctesting import eventually
from rapport.profile.adapters.identity_changes import ChangeKind, IdentityChange
from rapport.profile.adapters.profile_cache import ProfileCache, in_process_cache, redis_cache
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, ingestion, queries, segments
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.identity_follow import IdentityFollower
from rapport.versionedcache import CacheInvalidationError, RedisVersionedCache

from .._profile_support import OneChange
from .test_profile_handlers import make_deps, profile_of

PARENT = "workspaces/default"


class FailingInvalidations:
    """The profile cache, whose next ``failures`` invalidations fail (as Redis's do
    while it is away) without moving anything."""

    def __init__(self, cache: ProfileCache) -> None:
        self._cache = cache
        self.failures = 0
        self.failed: list[set[str]] = []
        self.fence_failures = 0

    async def get_many(self, keys, *, now=None):  # type: ignore[no-untyped-def]
        return await self._cache.get_many(keys, now=now)

    async def put_many(self, items, *, now=None):  # type: ignore[no-untyped-def]
        await self._cache.put_many(items, now=now)

    async def fence(self, scopes: Iterable[str]) -> str | None:
        if self.fence_failures:
            self.fence_failures -= 1
            raise CacheInvalidationError(ConnectionError("redis away"))
        return await self._cache.fence(scopes)

    async def invalidate(self, scopes: Iterable[str], *, fence: str | None = None) -> None:
        wanted = set(scopes)
        if self.failures and wanted:
            self.failures -= 1
            self.failed.append(wanted)
            raise CacheInvalidationError(ConnectionError("redis away"))
        await self._cache.invalidate(wanted, fence=fence)

    async def close(self) -> None:
        await self._cache.close()


def track(message_id: str, user_id: str) -> IncomingEvent:
    return IncomingEvent(EventType.TRACK, message_id, user_id=user_id, event="Viewed")


@pytest.fixture
async def with_ann(tmp_path: Path) -> AsyncIterator[tuple[Dependencies, FailingInvalidations, Any]]:
    """Dependencies whose profile cache fails invalidations on demand, and ann's ingest
    result (one event)."""
    deps, engine = await make_deps(tmp_path)
    cache = FailingInvalidations(in_process_cache(100))
    deps = replace(deps, profile_cache=cache)  # type: ignore[arg-type]
    [ann] = await ingestion.ingest_events(commands.IngestEvents(PARENT, [track("a1", "ann")]), deps)
    try:
        yield deps, cache, ann
    finally:
        await engine.dispose()


async def follow_until_applied(follower: IdentityFollower) -> None:
    following = asyncio.create_task(follower.run())
    try:
        await eventually(lambda: follower.stats.applied == 1, timeout=10)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


async def test_an_erasure_whose_first_invalidation_failed_is_not_answered_from_the_cache(
    with_ann: tuple[Dependencies, FailingInvalidations, Any],
) -> None:
    deps, cache, ann = with_ann
    assert (await profile_of(deps, ann.customer_id)).event_count == 1  # cached now

    cache.failures = 1
    erased = IdentityChange("000001", ChangeKind.ERASED, ann.customer_id)
    follower = IdentityFollower(deps, OneChange(erased), min_backoff=0.01)  # type: ignore[arg-type]
    await follow_until_applied(follower)

    assert cache.failed  # the first invalidation did fail
    async with deps.uow(readonly=True) as uow:
        assert await uow.profiles.count_events("default") == 0  # erased in the database
    with pytest.raises(NotFound):
        await queries.get_profile(
            commands.GetProfile(f"{PARENT}/customers/{ann.customer_id}/profile"), deps
        )


async def test_a_merge_whose_first_invalidation_failed_shows_in_the_survivor(
    with_ann: tuple[Dependencies, FailingInvalidations, Any],
) -> None:
    deps, cache, ann = with_ann
    bob, _ = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [track("b1", "bob"), track("b2", "bob")]), deps
    )
    assert (await profile_of(deps, ann.customer_id)).event_count == 1  # cached now

    cache.failures = 1
    merged = IdentityChange("000001", ChangeKind.MERGED, ann.customer_id, (bob.customer_id,))
    follower = IdentityFollower(deps, OneChange(merged), min_backoff=0.01)  # type: ignore[arg-type]
    await follow_until_applied(follower)

    assert cache.failed
    assert (await profile_of(deps, ann.customer_id)).event_count == 3


async def test_a_segment_evaluation_whose_first_invalidation_failed_shows_in_profiles(
    with_ann: tuple[Dependencies, FailingInvalidations, Any],
) -> None:
    deps, cache, ann = with_ann
    assert (await profile_of(deps, ann.customer_id)).segment_ids == ()  # cached now

    await segments.create_segment(
        commands.CreateSegment(PARENT, "Everyone", "true", segment_id="everyone"), deps
    )
    cache.failures = 1
    for _ in range(2):  # as the background runner would: again after a failure
        try:
            await segments.evaluate_due_segments(deps)
        except CacheInvalidationError:
            continue

    assert cache.failed
    assert (await profile_of(deps, ann.customer_id)).segment_ids == ("everyone",)


async def test_an_erasure_whose_process_died_before_invalidating_is_not_answered_from_redis(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, engine = await make_deps(tmp_path)
    shared = redis_cache(
        redis_url, timeout_seconds=1.0, key_prefix=f"test:{uuid.uuid4().hex}:", ttl_seconds=300
    )
    deps = replace(deps, profile_cache=shared)
    try:
        [ann] = await ingestion.ingest_events(
            commands.IngestEvents(PARENT, [track("a1", "ann")]), deps
        )
        for _ in range(3):  # the version, then the entry, then a hit
            assert (await profile_of(deps, ann.customer_id)).event_count == 1

        async def killed(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("killed after the commit")  # what kill -9 leaves undone

        monkeypatch.setattr(RedisVersionedCache, "invalidate", killed)
        erased = IdentityChange("000001", ChangeKind.ERASED, ann.customer_id)
        follower = IdentityFollower(deps, OneChange(erased), min_backoff=0.01)  # type: ignore[arg-type]
        await follow_until_applied(follower)
        # The cursor moved with the erasure: nothing will invalidate it again. On the old
        # code Redis answered the erased profile until the entry expired (300 s).
        with pytest.raises(NotFound):
            await queries.get_profile(
                commands.GetProfile(f"{PARENT}/customers/{ann.customer_id}/profile"), deps
            )
    finally:
        await shared.close()
        await engine.dispose()


async def test_an_erasure_whose_cache_cannot_be_fenced_for_a_while_is_applied_not_skipped(
    with_ann: tuple[Dependencies, FailingInvalidations, Any],
) -> None:
    deps, cache, ann = with_ann
    cache.fence_failures = 4  # more than the attempts one change gets
    erased = IdentityChange("000001", ChangeKind.ERASED, ann.customer_id)
    follower = IdentityFollower(deps, OneChange(erased), min_backoff=0.01)  # type: ignore[arg-type]
    await follow_until_applied(follower)
    assert cache.fence_failures == 0 and follower.stats.skipped == 0
    async with deps.uow(readonly=True) as uow:
        assert await uow.profiles.count_events("default") == 0
