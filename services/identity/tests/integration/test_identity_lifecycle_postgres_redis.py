"""Lifecycle on PostgreSQL, and the Redis lookup cache shared by two replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from rapport.identity.adapters.cache import RedisIdentifierCache
from rapport.identity.adapters.lifecycle_repository import LifecycleRepository
from rapport.identity.bootstrap import MIGRATIONS_DIR
from rapport.identity.domain.model import ChangeKind, Identifier, IdentityChange
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate
from redis import asyncio as redis_asyncio

from .._identity_support import ident, replica

PARENT = "workspaces/default"


async def lookup(stub, type_: str, value: str) -> str | None:
    try:
        found = await stub.LookupCustomer(
            pb.LookupCustomerRequest(parent=PARENT, identifier=ident(type_, value))
        )
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
        return None
    return found.name


async def resolve(stub, *identifiers: tuple[str, str]) -> pb.ResolveResponse:
    return await stub.Resolve(
        pb.ResolveRequest(parent=PARENT, identifiers=[ident(t, v) for t, v in identifiers])
    )


@pytest.fixture
def shared_settings(postgres_url: str, pg_schema: str, redis_url: str) -> IdentitySettings:
    return IdentitySettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        redis_url=redis_url,
        cache_key_prefix=f"rapport:identity:test:{uuid.uuid4().hex}:",
    )


async def test_a_replica_never_serves_a_lookup_cached_before_another_replicas_change(
    shared_settings: IdentitySettings,
) -> None:
    async with replica(shared_settings) as a, replica(shared_settings) as b:
        s = (await resolve(a, ("user_id", "s"))).customer.name
        x = (await resolve(a, ("device_id", "x"))).customer.name
        for _ in range(2):  # the second lookup is served from Redis
            assert await lookup(a, "device_id", "x") == x
        client = redis_asyncio.from_url(shared_settings.redis_url or "")
        try:
            cached = await client.keys(f"{shared_settings.cache_key_prefix}*:c")
        finally:
            await client.aclose()
        assert cached, "the lookup was not cached in Redis"

        merged = await resolve(b, ("user_id", "s"), ("device_id", "x"))
        assert list(merged.merged_customers) == [x]
        assert await lookup(a, "device_id", "x") == s
        assert await lookup(a, "device_id", "x") == s

        await b.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s))
        assert await lookup(a, "device_id", "x") == x

        # A's Resolve fast path (everything cached, nothing to store) sees the erasure too.
        assert (await resolve(a, ("device_id", "x"))).customer.name == x
        await b.EraseCustomer(pb.EraseCustomerRequest(name=x, block_identifiers=True))
        assert await lookup(a, "device_id", "x") is None
        again = await resolve(a, ("device_id", "x"), ("email", "new@x.io"))
        assert [r.reason for r in again.rejected_identifiers] == ["ERASED_BLOCKED"]
        assert again.customer.name != x


async def test_lookups_work_when_redis_is_down(postgres_url: str, pg_schema: str) -> None:
    settings = IdentitySettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens there
        redis_timeout_seconds=0.1,
    )
    async with replica(settings) as stub:
        s = (await resolve(stub, ("user_id", "s"))).customer.name
        x = (await resolve(stub, ("device_id", "x"))).customer.name
        assert await lookup(stub, "device_id", "x") == x
        await resolve(stub, ("user_id", "s"), ("device_id", "x"))
        assert await lookup(stub, "device_id", "x") == s
        await stub.EraseCustomer(pb.EraseCustomerRequest(name=s))
        assert await lookup(stub, "device_id", "x") is None


async def test_unmerge_erase_and_watch_on_postgres(postgres_url: str, pg_schema: str) -> None:
    settings = IdentitySettings(database_url=postgres_url, database_schema=pg_schema)
    async with replica(settings) as a, replica(settings) as b:
        s = (await resolve(a, ("user_id", "s"))).customer.name
        c = (await resolve(a, ("device_id", "c"))).customer.name
        d = (await resolve(a, ("anonymous_id", "d"))).customer.name
        await resolve(a, ("device_id", "c"), ("anonymous_id", "d"))
        await resolve(b, ("user_id", "s"), ("device_id", "c"))

        split = await b.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s, customers=[c]))
        [restored] = split.restored_customers
        assert restored.name == c and list(restored.merged_customers) == [d]
        kept_apart = await resolve(a, ("user_id", "s"), ("device_id", "c"))
        assert [r.reason for r in kept_apart.rejected_identifiers] == ["KEPT_APART"]

        erased = await a.EraseCustomer(pb.EraseCustomerRequest(name=c))
        assert erased.erased_identifier_count == 2

        # Replica B's stream sees replica A's commits (found by polling), in order.
        call = b.WatchChanges(pb.WatchChangesRequest(parent=PARENT))
        seen = []
        try:
            async with asyncio.timeout(10):
                async for response in call:
                    seen.append((response.change.kind, response.change.customer))
                    if response.change.kind == pb.CHANGE_KIND_ERASED and len(seen) >= 7:
                        break
        finally:
            call.cancel()
        assert seen == [
            (pb.CHANGE_KIND_CREATED, s),
            (pb.CHANGE_KIND_CREATED, c),
            (pb.CHANGE_KIND_CREATED, d),
            (pb.CHANGE_KIND_MERGED, c),
            (pb.CHANGE_KIND_MERGED, s),
            (pb.CHANGE_KIND_UNMERGED, s),
            (pb.CHANGE_KIND_ERASED, c),
        ]


async def test_concurrent_unmerge_erase_and_resolve_on_two_replicas_keep_the_graph_sound(
    shared_settings: IdentitySettings,
) -> None:
    async with replica(shared_settings) as a, replica(shared_settings) as b:
        survivors = []
        for k in range(8):
            s = (await resolve(a, ("user_id", f"u{k}"))).customer.name
            await resolve(a, ("device_id", f"b{k}"))
            await resolve(b, ("user_id", f"u{k}"), ("device_id", f"b{k}"))
            survivors.append(s)

        async def unmerge(k: int) -> None:
            try:
                await a.UnmergeCustomer(pb.UnmergeCustomerRequest(name=survivors[k]))
            except grpc.aio.AioRpcError as error:  # erased first, or nothing left
                assert error.code() in (
                    grpc.StatusCode.NOT_FOUND,
                    grpc.StatusCode.FAILED_PRECONDITION,
                )

        async def erase(k: int) -> None:
            try:
                await b.EraseCustomer(pb.EraseCustomerRequest(name=survivors[k]))
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND

        calls = []
        for k in range(8):
            calls.append(unmerge(k))
            if k % 3 == 0:
                calls.append(erase(k))
            calls.append(resolve(b, ("device_id", f"b{k}"), ("anonymous_id", f"a{k}")))
            calls.append(resolve(a, ("user_id", f"u{k}"), ("email", f"e{k}@x.io")))
        live_cursors: list[str] = []
        arrived = asyncio.Event()
        watcher = asyncio.ensure_future(_watch_into(b, live_cursors, arrived))
        await asyncio.sleep(0.3)  # the stream is open before the writes start
        try:
            await asyncio.gather(*calls)
            # A live stream (cursor moving while other transactions commit) saw exactly
            # what a fresh read from the start sees: no change skipped, none repeated.
            everything = await _all_changes(a)
            async with asyncio.timeout(10):
                while len(live_cursors) < len(everything):
                    arrived.clear()
                    await arrived.wait()
            await asyncio.sleep(0.6)  # anything extra would show up within a poll
            assert live_cursors == everything
        finally:
            watcher.cancel()

        listed = await a.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1000))
        owners: dict[tuple[str, str], str] = {}
        for customer in listed.customers:
            for identifier in customer.identifiers:
                key = (identifier.type, identifier.value)
                assert key not in owners, "an identifier on two live customers"
                owners[key] = customer.name
            assert sum(i.type == "user_id" for i in customer.identifiers) <= 1
        # Every lookup (cached or not, on either replica) agrees with the listing.
        for k in range(8):
            for key in (
                ("user_id", f"u{k}"),
                ("device_id", f"b{k}"),
                ("anonymous_id", f"a{k}"),
                ("email", f"e{k}@x.io"),
            ):
                for stub in (a, b, a):
                    assert await lookup(stub, *key) == owners.get(key)


async def _watch_into(stub, cursors: list[str], arrived: asyncio.Event) -> None:
    async for response in stub.WatchChanges(pb.WatchChangesRequest(parent=PARENT)):
        cursors.append(response.change.cursor)
        arrived.set()


async def _all_changes(stub) -> list[str]:
    call = stub.WatchChanges(pb.WatchChangesRequest(parent=PARENT))
    cursors = []
    try:
        while True:
            try:
                response = await asyncio.wait_for(call.read(), 1.5)
            except TimeoutError:
                return cursors
            cursors.append(response.change.cursor)
    finally:
        call.cancel()


async def test_change_log_appends_wait_for_the_earlier_writer_to_commit(
    postgres_url: str, pg_schema: str
) -> None:
    """Seq order = commit order: a later writer cannot commit a seq while an earlier
    one is still open, so a reader's cursor never skips a change committed late."""
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=pg_schema)
        now = datetime.now(UTC)
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await LifecycleRepository(first).append_changes(
                "default", [IdentityChange(ChangeKind.ERASED, "one")], now
            )

            async def later_writer() -> None:
                await second.begin()
                await LifecycleRepository(second).append_changes(
                    "default", [IdentityChange(ChangeKind.ERASED, "two")], now
                )
                await second.commit()

            later = asyncio.ensure_future(later_writer())
            await asyncio.sleep(0.5)
            assert not later.done(), "the second append did not wait for the first commit"
            await first.commit()
            await asyncio.wait_for(later, 5)
        async with engine.connect() as reader:
            rows = await LifecycleRepository(reader).changes_after("default", 0, 10)
        assert [row.customer_id for row in rows] == ["one", "two"]
    finally:
        await engine.dispose()


async def test_redis_cache_never_trusts_a_mapping_read_before_an_invalidation(
    redis_url: str,
) -> None:
    cache = RedisIdentifierCache.from_url(
        redis_url,
        timeout_seconds=1,
        key_prefix=f"rapport:identity:test:{uuid.uuid4().hex}:",
        ttl_seconds=60,
    )
    email = Identifier("email", "a@example.com")
    try:
        [(hit, tag)] = await cache.get_many("w", [email])
        assert hit is None and tag is None  # no version yet: created now, stored next time
        [(hit, tag)] = await cache.get_many("w", [email])
        assert hit is None and isinstance(tag, str)
        # A writer moves the identifier after our database read, before we store it.
        await cache.invalidate("w", [email])
        await cache.put_many("w", [(email, tag, "old")])
        [(hit, tag)] = await cache.get_many("w", [email])
        assert hit is None
        await cache.put_many("w", [(email, tag, "new")])
        assert (await cache.get_many("w", [email]))[0][0] == "new"
        assert (await cache.get_many("other", [email]))[0][0] is None
    finally:
        await cache.close()
