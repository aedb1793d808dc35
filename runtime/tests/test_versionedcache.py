from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from rapport.errors import Unavailable
from rapport.versionedcache import (
    CacheInvalidationError,
    InProcessVersionedCache,
    Lookup,
    NoVersionedCache,
    RedisVersionedCache,
    ValueCodec,
)
from redis import asyncio as redis_asyncio

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Key:
    owner: str
    item: str


@dataclass(frozen=True)
class Price:
    amount: int
    until: datetime | None = None


def owner(key: Key) -> str:
    return key.owner


def item(key: Key) -> str:
    return key.item


def until(price: Price) -> datetime | None:
    return price.until


def dumps(price: Price) -> str:
    return json.dumps({"a": price.amount, "u": price.until.isoformat() if price.until else None})


def loads(text: str) -> Price:
    data = json.loads(text)
    return Price(int(data["a"]), datetime.fromisoformat(data["u"]) if data["u"] else None)


CODEC = ValueCodec(dumps, loads)
A1, A2, B1 = Key("a", "1"), Key("a", "2"), Key("b", "1")


async def store(cache, key: Key, value: Price, now: datetime = NOW) -> None:
    """A reader's miss path: look up (takes the tag), 'read the database', store."""
    [(_, tag)] = await cache.get_many([key], now=now)
    await cache.put_many([(key, tag, value)], now=now)


# --- in process ----------------------------------------------------------------------


async def test_in_process_serves_a_value_until_its_scope_is_invalidated() -> None:
    cache = InProcessVersionedCache(owner)
    await store(cache, A1, Price(1))
    await store(cache, A2, Price(2))
    await store(cache, B1, Price(3))
    assert [v for v, _ in await cache.get_many([A1, A2, B1])] == [Price(1), Price(2), Price(3)]

    await cache.invalidate(["a"])  # every key of scope "a", and only those
    assert [v for v, _ in await cache.get_many([A1, A2, B1])] == [None, None, Price(3)]


async def test_in_process_refuses_a_value_read_before_an_invalidation() -> None:
    cache = InProcessVersionedCache(owner)
    [(hit, tag_before_read)] = await cache.get_many([A1])
    assert hit is None and tag_before_read is not None
    await cache.invalidate(["a"])  # a writer commits while the reader reads
    await cache.put_many([(A1, tag_before_read, Price(1))])
    assert (await cache.get_many([A1]))[0].value is None
    await cache.put_many([(A1, None, Price(1))])  # unknown version: never stored
    assert (await cache.get_many([A1]))[0].value is None

    await store(cache, A1, Price(2))
    assert (await cache.get_many([A1]))[0].value == Price(2)


async def test_in_process_evicts_the_least_recently_used() -> None:
    cache = InProcessVersionedCache(owner, max_entries=2)
    await store(cache, A1, Price(1))
    await store(cache, A2, Price(2))
    await cache.get_many([A1])  # A1 is now the most recently used
    await store(cache, B1, Price(3))
    assert [v for v, _ in await cache.get_many([A1, A2, B1])] == [Price(1), None, Price(3)]


async def test_in_process_versions_stay_bounded_by_the_stripes() -> None:
    # One stripe: every scope shares a version, so invalidating any scope costs all
    # of them a miss, and the version table never grows.
    cache = InProcessVersionedCache(owner, stripes=1)
    await store(cache, A1, Price(1))
    await store(cache, B1, Price(2))
    await cache.invalidate(f"scope-{i}" for i in range(10_000))
    assert [v for v, _ in await cache.get_many([A1, B1])] == [None, None]
    assert len(cache._versions) == 1


async def test_in_process_values_stop_at_their_own_expiry() -> None:
    cache = InProcessVersionedCache(owner, valid_until=until)
    await store(cache, A1, Price(1, until=NOW + timedelta(minutes=1)))
    assert (await cache.get_many([A1], now=NOW + timedelta(seconds=59)))[0].value == Price(
        1, NOW + timedelta(minutes=1)
    )
    assert (await cache.get_many([A1], now=NOW + timedelta(minutes=1)))[0].value is None
    # Already expired when read: not stored at all.
    await store(cache, A2, Price(2, until=NOW), now=NOW)
    assert (await cache.get_many([A2], now=NOW - timedelta(days=1)))[0].value is None


async def test_no_cache_always_misses() -> None:
    cache = NoVersionedCache()
    await store(cache, A1, Price(1))
    assert await cache.get_many([A1, A2]) == [Lookup(None, None), Lookup(None, None)]
    await cache.invalidate(["a"])
    await cache.close()


def test_codec_trusts_text_only_under_its_version() -> None:
    raw = CODEC.encode(Price(5), "v1")
    assert CODEC.decode(raw, "v1") == Price(5)
    assert CODEC.decode(raw, "v2") is None
    assert CODEC.decode(None, "v1") is None
    assert CODEC.decode("no separator", "v1") is None
    assert CODEC.decode("v1:{not json", "v1") is None  # unreadable: a miss
    assert CODEC.decode('v1:{"x": 1}', "v1") is None  # another format: a miss


def test_cache_invalidation_error_is_unavailable() -> None:
    err = CacheInvalidationError(ConnectionError("refused"))
    assert isinstance(err, Unavailable)
    assert (err.code, err.reason, err.cause_name) == (
        "UNAVAILABLE",
        "CACHE_INVALIDATION_FAILED",
        "ConnectionError",
    )


# --- Redis ---------------------------------------------------------------------------


def redis_cache(url: str, prefix: str, **overrides) -> RedisVersionedCache[Key, Price]:
    options = {
        "timeout_seconds": 1.0,
        "key_prefix": prefix,
        "scope_of": owner,
        "field_of": item,
        "codec": CODEC,
        "ttl_seconds": 60,
        "valid_until": until,
    }
    return RedisVersionedCache.from_url(url, **(options | overrides))


@pytest.fixture
def prefix() -> str:
    return f"test:vc:{uuid.uuid4().hex}:"


@pytest.fixture
async def replicas(redis_url: str, prefix: str) -> AsyncIterator[list[RedisVersionedCache]]:
    """Two caches on one Redis and one prefix: what two replicas of a service share."""
    caches = [redis_cache(redis_url, prefix), redis_cache(redis_url, prefix)]
    yield caches
    for cache in caches:
        await cache.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis_asyncio.Redis]:
    """A plain client, to look at (or tamper with) what the caches stored."""
    client = redis_asyncio.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_redis_first_lookup_creates_the_version_and_stores_nothing(
    replicas: list[RedisVersionedCache], raw: redis_asyncio.Redis, prefix: str
) -> None:
    cache = replicas[0]
    [(hit, tag)] = await cache.get_many([A1], now=NOW)
    assert hit is None and tag is None  # a reader racing with a writer: store nothing
    await cache.put_many([(A1, tag, Price(1))], now=NOW)
    [(hit, tag)] = await cache.get_many([A1], now=NOW)
    assert hit is None and isinstance(tag, str)
    await cache.put_many([(A1, tag, Price(1))], now=NOW)
    assert (await cache.get_many([A1], now=NOW))[0] == Lookup(Price(1), tag)
    assert sorted(await raw.keys(f"{prefix}*")) == [f"{prefix}{{a}}:1", f"{prefix}{{a}}:v"]
    assert 59_000 < await raw.pttl(f"{prefix}{{a}}:1") <= 60_000


async def test_two_replicas_sharing_redis_never_serve_a_value_cached_before_a_write(
    replicas: list[RedisVersionedCache],
) -> None:
    a, b = replicas
    await a.get_many([A1, B1], now=NOW)  # creates the versions
    await store(a, A1, Price(1))
    await store(a, B1, Price(9))
    assert (await b.get_many([A1], now=NOW))[0].value == Price(1)  # B sees A's entry

    # A reads the database, B commits a write and invalidates, A stores what it read.
    [(_, tag_before_read)] = await a.get_many([A2], now=NOW)
    await b.invalidate(["a"])
    await a.put_many([(A2, tag_before_read, Price(2))], now=NOW)
    for replica in (a, b):
        hits = [v for v, _ in await replica.get_many([A1, A2, B1], now=NOW)]
        assert hits == [None, None, Price(9)]

    await store(b, A1, Price(10))
    assert (await a.get_many([A1], now=NOW))[0].value == Price(10)


async def test_redis_lost_version_never_revives_old_values(
    replicas: list[RedisVersionedCache], raw: redis_asyncio.Redis, prefix: str
) -> None:
    cache = replicas[0]
    await cache.get_many([A1], now=NOW)
    await store(cache, A1, Price(1))
    assert (await cache.get_many([A1], now=NOW))[0].value == Price(1)
    await raw.delete(f"{prefix}{{a}}:v")  # evicted or expired
    assert (await cache.get_many([A1], now=NOW))[0].value is None  # a new random version
    assert (await cache.get_many([A1], now=NOW))[0].value is None


async def test_redis_values_expire_at_their_own_validity(
    replicas: list[RedisVersionedCache], raw: redis_asyncio.Redis, prefix: str
) -> None:
    cache = replicas[0]
    await cache.get_many([A1, A2], now=NOW)
    await store(cache, A1, Price(1, until=NOW + timedelta(seconds=5)))
    assert 0 < await raw.pttl(f"{prefix}{{a}}:1") <= 5_000  # capped below the 60 s TTL
    assert (await cache.get_many([A1], now=NOW + timedelta(seconds=5)))[0].value is None
    await store(cache, A2, Price(2, until=NOW))  # already over: not written
    assert not await raw.exists(f"{prefix}{{a}}:2")


async def test_redis_a_writer_dying_after_its_commit_leaves_nothing_stale_trusted(
    replicas: list[RedisVersionedCache], raw: redis_asyncio.Redis, prefix: str
) -> None:
    a, b = replicas
    await a.get_many([A1], now=NOW)
    await store(a, A1, Price(1))
    # B fences, a reader reads the database before B's commit, B commits and dies.
    await b.fence(["a"])
    [(hit, tag)] = await a.get_many([A1], now=NOW)
    assert hit is None and tag is None  # a fenced scope: a miss, nothing to store under
    await a.put_many([(A1, tag, Price(1))], now=NOW)
    assert (await a.get_many([A1], now=NOW))[0].value is None
    assert 0 < await raw.pttl(f"{prefix}{{a}}:v") <= 30_000  # gone with its writer
    # Without the fence the old value (or one read just before the commit) was
    # served until its TTL. Once the fence lapses, values are stored again.
    await raw.delete(f"{prefix}{{a}}:v")
    await a.get_many([A1], now=NOW)
    await store(a, A1, Price(2))
    assert (await b.get_many([A1], now=NOW))[0].value == Price(2)


async def test_redis_fences_of_concurrent_writers_hold_until_each_invalidates(
    replicas: list[RedisVersionedCache], raw: redis_asyncio.Redis, prefix: str
) -> None:
    a, b = replicas
    first = await a.fence(["a"])
    second = await b.fence(["a"])
    await a.invalidate(["a"], fence=first)
    # The second writer has not committed: its fence still stands.
    assert (await a.get_many([A1], now=NOW))[0] == Lookup(None, None)
    await b.invalidate(["a"], fence=second)
    [(hit, tag)] = await a.get_many([A1], now=NOW)
    assert hit is None and isinstance(tag, str) and not tag.startswith("f:")
    await a.put_many([(A1, tag, Price(3))], now=NOW)
    assert (await b.get_many([A1], now=NOW))[0].value == Price(3)
    # A plain invalidation (no fence of its own) leaves a writer's fence in place.
    third = await a.fence(["a"])
    await b.invalidate(["a"])
    assert (await a.get_many([A1], now=NOW))[0] == Lookup(None, None)
    await a.invalidate(["a"], fence=third)
    assert (await a.get_many([A1], now=NOW))[0].tag is not None


async def test_redis_a_lapsed_fence_stops_counting(
    redis_url: str, raw: redis_asyncio.Redis, prefix: str
) -> None:
    cache = redis_cache(redis_url, prefix, fence_seconds=0.05)
    try:
        await cache.fence(["a"])  # its writer dies
        await asyncio.sleep(0.1)
        live = await cache.fence(["a"])
        stored = await raw.get(f"{prefix}{{a}}:v")
        assert stored.startswith("f:") and stored.count(",") == 0  # the dead one dropped
        await cache.invalidate(["a"], fence=live)
        assert not (await raw.get(f"{prefix}{{a}}:v")).startswith("f:")
    finally:
        await cache.close()


async def test_redis_down_reads_miss_and_invalidation_fails_distinctly() -> None:
    # Nothing listens on port 1.
    cache = redis_cache("redis://127.0.0.1:1/0", "down:", timeout_seconds=0.2)
    try:
        assert await cache.get_many([A1, A2]) == [Lookup(None, None)] * 2
        await cache.put_many([(A1, "tag", Price(1))])  # swallowed: a cache is optional
        with pytest.raises(CacheInvalidationError) as raised:
            await cache.invalidate(["a"])
        assert raised.value.cause_name in {"ConnectionError", "TimeoutError", "OSError"}
        with pytest.raises(CacheInvalidationError):
            await cache.fence(["a"])
    finally:
        await cache.close()


async def test_redis_refuses_the_version_field_name(redis_url: str, prefix: str) -> None:
    cache = redis_cache(redis_url, prefix, field_of=lambda _key: "v")
    try:
        with pytest.raises(ValueError):
            await cache.get_many([A1])
    finally:
        await cache.close()
