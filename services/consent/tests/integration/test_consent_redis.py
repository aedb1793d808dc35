"""Replicas sharing PostgreSQL and a Redis cache: a write on one is seen by the other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest
from rapport.consent.adapters.cache import RedisStateCache
from rapport.consent.domain.model import Channel, ConsentKey, CurrentState
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from redis import asyncio as redis_asyncio

from .._consent_support import (
    FakeClock,
    check,
    consent_stub,
    customer_name,
    record,
    write_ledger_row,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def test_a_write_on_one_replica_is_seen_by_the_other(
    postgres_url: str, pg_schema: str, redis_url: str, clock: FakeClock
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    settings = ConsentSettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        redis_url=redis_url,
        cache_key_prefix=prefix,
    )
    customer = customer_name()
    async with consent_stub(settings, clock) as a, consent_stub(settings, clock) as b:
        await record(a, customer, pb.CONSENT_STATE_GRANTED)
        for _ in range(3):  # creates the version, then caches GRANTED, then reads it
            assert (await check(a, customer)).allowed

        # Proof that A answers from Redis: a row slipped into the ledger without the
        # service (so without invalidation) is not seen.
        clock.advance(seconds=1)
        await write_ledger_row(postgres_url, customer, clock.now, schema=pg_schema, state="denied")
        assert (await check(a, customer)).allowed

        clock.advance(seconds=1)
        denied = await record(b, customer, pb.CONSENT_STATE_DENIED)
        answer = await check(a, customer)
        assert (answer.allowed, answer.reason, answer.record.name) == (False, "DENIED", denied.name)

        # And back: B caches DENIED, A grants, B sees it at once.
        assert not (await check(b, customer)).allowed
        clock.advance(seconds=1)
        granted = await record(a, customer, pb.CONSENT_STATE_GRANTED)
        assert (await check(b, customer)).record.name == granted.name


async def test_a_replica_dying_between_its_commit_and_its_invalidation_leaves_no_stale_answer(
    postgres_url: str,
    pg_schema: str,
    redis_url: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ConsentSettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        redis_url=redis_url,
        cache_key_prefix=f"test:{uuid.uuid4().hex}:",
    )
    customer = customer_name()
    async with consent_stub(settings, clock) as a, consent_stub(settings, clock) as b:
        await record(a, customer, pb.CONSENT_STATE_GRANTED)
        for _ in range(3):  # A answers from Redis from now on
            assert (await check(a, customer)).allowed

        async def killed(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("killed after its commit")  # what kill -9 leaves undone

        with monkeypatch.context() as patched:
            patched.setattr(RedisStateCache, "invalidate", killed)
            clock.advance(seconds=1)
            with pytest.raises(grpc.aio.AioRpcError):
                await record(b, customer, pb.CONSENT_STATE_DENIED)
        # The opt-out committed. On the old code A went on answering GRANTED from
        # Redis until the entry's TTL (60 s).
        for replica in (a, b):
            answer = await check(replica, customer)
            assert (answer.allowed, answer.reason) == (False, "DENIED")


def _cache(redis_url: str, prefix: str) -> RedisStateCache:
    return RedisStateCache.from_url(
        redis_url, timeout_seconds=1.0, key_prefix=prefix, ttl_seconds=60
    )


async def test_a_read_that_raced_with_a_write_is_never_trusted(redis_url: str) -> None:
    cache = _cache(redis_url, f"test:{uuid.uuid4().hex}:")
    key = ConsentKey("default", "c1", "marketing", Channel.EMAIL)
    try:
        [(hit, version)] = await cache.get_many([key], NOW)
        assert hit is None and version is None  # no version yet: nothing is stored
        [(hit, version)] = await cache.get_many([key], NOW)
        assert hit is None and version is not None

        await cache.invalidate("default", "c1")  # a write commits during the read
        await cache.put_many([(key, version, CurrentState(None))], NOW)
        [(hit, fresh_version)] = await cache.get_many([key], NOW)
        assert hit is None and fresh_version != version

        await cache.put_many([(key, fresh_version, CurrentState(None))], NOW)
        assert (await cache.get_many([key], NOW))[0][0] == CurrentState(None)
    finally:
        await cache.close()


async def test_a_lost_version_key_never_revives_old_values(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    cache = _cache(redis_url, prefix)
    client = redis_asyncio.from_url(redis_url)
    key = ConsentKey("default", "c2", "marketing", Channel.SMS)
    try:
        await cache.get_many([key], NOW)
        [(_, version)] = await cache.get_many([key], NOW)
        await cache.put_many([(key, version, CurrentState(None))], NOW)
        assert (await cache.get_many([key], NOW))[0][0] is not None

        await client.delete(f"{prefix}{{default/c2}}:v")  # evicted or expired
        assert (await cache.get_many([key], NOW))[0][0] is None  # a new random version
        assert (await cache.get_many([key], NOW))[0][0] is None
    finally:
        await cache.close()
        await client.aclose()


async def test_an_unreadable_state_is_answered_alike_from_postgres_and_redis(
    postgres_url: str, pg_schema: str, redis_url: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        redis_url=redis_url,
        cache_key_prefix=f"test:{uuid.uuid4().hex}:",
    )
    customer = customer_name()
    async with consent_stub(settings, clock) as a, consent_stub(settings, clock) as b:
        # A state a newer version wrote, slipped in before anything was cached.
        await write_ledger_row(postgres_url, customer, clock.now, schema=pg_schema, state="paused")
        for stub in (a, a, a, b):  # the version, then the ledger and Redis, then Redis
            answer = await check(stub, customer)
            assert (answer.allowed, answer.reason) == (False, "UNREADABLE_RECORD_DEFAULT_DENY")
            assert answer.record.state == pb.CONSENT_STATE_UNSPECIFIED
        listed = await b.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
        assert [r.state for r in listed.consent_records] == [pb.CONSENT_STATE_UNSPECIFIED]
        clock.advance(seconds=1)
        granted = await record(a, customer, pb.CONSENT_STATE_GRANTED)
        assert (await check(b, customer)).record.name == granted.name
