"""Lingering batches under load, and the short-lived profile cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from rapport.delivery.adapters.profile_client import (
    CachedProfileClient,
    CustomerProfile,
    ProfileClient,
    ProfileNotFound,
)
from rapport.groupcommit import GroupCommit


async def test_a_busy_writer_lingers_so_callers_a_moment_apart_share_a_batch() -> None:
    batcher: GroupCommit[int, int] = GroupCommit(linger=0.02)
    sizes: list[int] = []

    async def write(items: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        return list(items)

    # Idle: a lone caller is written at once, alone.
    assert await batcher.submit(1, write) == 1
    assert sizes == [1]

    # Busy now: callers arriving a moment apart wait for each other.
    async def later(i: int) -> int:
        await asyncio.sleep(0.002 * i)
        return await batcher.submit(i, write)

    assert await asyncio.gather(*(later(i) for i in range(2, 6))) == [2, 3, 4, 5]
    assert sizes[1] > 1 and sum(sizes) == 5


def test_a_linger_outside_its_bounds_is_refused() -> None:
    with pytest.raises(ValueError):
        GroupCommit(linger=-1)
    with pytest.raises(ValueError):
        GroupCommit(linger=1.0)


class Counting(ProfileClient):
    def __init__(self) -> None:
        self.calls = 0
        self.traits: dict[str, object] = {"email": "a@example.com"}
        self.missing = False

    async def get_profile(self, customer: str) -> CustomerProfile:
        self.calls += 1
        await asyncio.sleep(0)
        if self.missing:
            raise ProfileNotFound(customer)
        return CustomerProfile(customer=customer, traits=dict(self.traits))


async def test_the_profile_cache_serves_within_its_validity_and_reads_again_after() -> None:
    now = [100.0]
    inner = Counting()
    cached = CachedProfileClient(inner, ttl_seconds=2, monotonic=lambda: now[0])
    customer = "workspaces/default/customers/c1"
    # Concurrent reads of one customer share one call.
    first = await asyncio.gather(*(cached.get_profile(customer) for _ in range(5)))
    assert inner.calls == 1 and all(p.traits == {"email": "a@example.com"} for p in first)
    inner.traits = {"email": "b@example.com"}
    now[0] += 1.5
    assert (await cached.get_profile(customer)).traits == {"email": "a@example.com"}
    now[0] += 1.0
    assert (await cached.get_profile(customer)).traits == {"email": "b@example.com"}
    assert inner.calls == 2


async def test_the_profile_cache_keeps_no_failure() -> None:
    inner = Counting()
    inner.missing = True
    cached = CachedProfileClient(inner, ttl_seconds=60)
    customer = "workspaces/default/customers/c1"
    for _ in range(2):
        with pytest.raises(ProfileNotFound):
            await cached.get_profile(customer)
    assert inner.calls == 2
    inner.missing = False
    assert (await cached.get_profile(customer)).customer == customer
    await cached.get_profile(customer)
    assert inner.calls == 3


async def test_the_profile_cache_stays_within_its_size() -> None:
    inner = Counting()
    cached = CachedProfileClient(inner, ttl_seconds=60, max_entries=3)
    for i in range(10):
        await cached.get_profile(f"workspaces/default/customers/c{i}")
    assert len(cached._kept) <= 3
