"""An identity change the follower applied leaves no stale GetProfile answer behind,
even when the cache could not be invalidated at the first try (Redis away for a
moment): the follower retries the invalidation of the customers the change touched.

It used to retry the whole change instead; the change was committed, so the retry
found its cursor saved, did nothing and invalidated nothing: the cache went on
answering the profile from before the change (an erased one too) until it expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from pathlib import Path

import pytest
from rapport.errors import NotFound
from rapport.grpctesting import eventually
from rapport.profile.adapters.identity_changes import ChangeKind, IdentityChange
from rapport.profile.adapters.profile_cache import ProfileCache, in_process_cache
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, ingestion, queries
from rapport.profile.service_layer.identity_follow import IdentityFollower
from rapport.versionedcache import CacheInvalidationError

from .test_profile_handlers import make_deps, profile_of

PARENT = "workspaces/default"


class FailingInvalidations:
    """The profile cache, whose next ``failures`` invalidations fail (as Redis's do
    while it is away) without moving anything."""

    def __init__(self, cache: ProfileCache) -> None:
        self._cache = cache
        self.failures = 0
        self.failed: list[set[str]] = []

    async def get_many(self, keys, *, now=None):  # type: ignore[no-untyped-def]
        return await self._cache.get_many(keys, now=now)

    async def put_many(self, items, *, now=None):  # type: ignore[no-untyped-def]
        await self._cache.put_many(items, now=now)

    async def invalidate(self, scopes: Iterable[str]) -> None:
        wanted = set(scopes)
        if self.failures and wanted:
            self.failures -= 1
            self.failed.append(wanted)
            raise CacheInvalidationError(ConnectionError("redis away"))
        await self._cache.invalidate(wanted)

    async def close(self) -> None:
        await self._cache.close()


class OneChange:
    """Identity's WatchChanges answering one change, then quiet."""

    def __init__(self, change: IdentityChange) -> None:
        self._change = change

    async def watch(self, workspace: str, start_cursor: str) -> AsyncIterator[IdentityChange]:
        if start_cursor < self._change.cursor:
            yield self._change
        await asyncio.Event().wait()

    async def customer(self, workspace: str, customer_id: str) -> None:
        return None


def track(message_id: str, user_id: str) -> IncomingEvent:
    return IncomingEvent(EventType.TRACK, message_id, user_id=user_id, event="Viewed")


async def follow_until_applied(follower: IdentityFollower) -> None:
    following = asyncio.create_task(follower.run())
    try:
        await eventually(lambda: follower.stats.applied == 1, timeout=10)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


async def test_an_erasure_whose_first_invalidation_failed_is_not_answered_from_the_cache(
    tmp_path: Path,
) -> None:
    deps, engine = await make_deps(tmp_path)
    cache = FailingInvalidations(in_process_cache(100))
    deps = replace(deps, profile_cache=cache)  # type: ignore[arg-type]
    [ann] = await ingestion.ingest_events(commands.IngestEvents(PARENT, [track("a1", "ann")]), deps)
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
    await engine.dispose()


async def test_a_merge_whose_first_invalidation_failed_shows_in_the_survivor(
    tmp_path: Path,
) -> None:
    deps, engine = await make_deps(tmp_path)
    cache = FailingInvalidations(in_process_cache(100))
    deps = replace(deps, profile_cache=cache)  # type: ignore[arg-type]
    [ann] = await ingestion.ingest_events(commands.IngestEvents(PARENT, [track("a1", "ann")]), deps)
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
    await engine.dispose()
