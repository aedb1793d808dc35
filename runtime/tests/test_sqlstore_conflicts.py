"""run_with_retries and advisory locks, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapport.errors import Aborted
from rapport.sqlstore import (
    SqlUnitOfWork,
    TransientConflict,
    advisory_key,
    advisory_xact_locks,
    create_engine,
    database_unreachable,
    run_with_retries,
    transient_conflict,
)
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = MetaData()
counters = Table(
    "counters",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("n", Integer, nullable=False),
)


class Uow(SqlUnitOfWork):
    opened = 0

    def _open_repositories(self) -> None:
        type(self).opened += 1


async def _ready(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path}/conflicts.db")
    yield await _ready(engine)
    await engine.dispose()


@pytest.fixture
async def postgres(postgres_url: str, pg_schema: str) -> AsyncIterator[AsyncEngine]:
    admin = create_engine(postgres_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{pg_schema}"'))
    await admin.dispose()
    engine = create_engine(postgres_url, schema=pg_schema)
    yield await _ready(engine)
    await engine.dispose()


async def rows(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {r.id: r.n for r in await conn.execute(select(counters))}


# --- the retry loop (SQLite) ----------------------------------------------------------


async def test_a_transient_conflict_redoes_the_whole_unit_in_a_fresh_one(
    sqlite: AsyncEngine,
) -> None:
    seen: list[Uow] = []

    async def work(uow: Uow) -> str:
        seen.append(uow)
        await uow.connection.execute(insert(counters).values(id=f"try{len(seen)}", n=1))
        if len(seen) < 3:
            raise TransientConflict("STALE_READ")
        return "done"

    assert await run_with_retries(lambda: Uow(sqlite), work, backoff_seconds=0) == "done"
    assert len({id(uow) for uow in seen}) == 3  # a new unit of work each time
    assert await rows(sqlite) == {"try3": 1}  # the failed attempts were rolled back


async def test_budgets_are_per_reason_then_aborted(sqlite: AsyncEngine) -> None:
    reasons = iter(["STALE_READ"] * 10 + ["DEADLOCK"] * 3 + ["STALE_READ", "DEADLOCK"])
    attempts = 0

    async def work(uow: Uow) -> None:
        nonlocal attempts
        attempts += 1
        raise TransientConflict(next(reasons))

    with pytest.raises(Aborted) as raised:
        await run_with_retries(
            lambda: Uow(sqlite), work, retries=3, budgets={"STALE_READ": 10}, backoff_seconds=0
        )
    # 10 stale reads and 3 deadlocks are retried; the 11th stale read exhausts its budget.
    assert attempts == 14
    assert raised.value.reason == "CONCURRENT_UPDATE"
    assert isinstance(raised.value.__cause__, TransientConflict)


async def test_other_errors_propagate_without_retry(sqlite: AsyncEngine) -> None:
    attempts = 0

    async def work(uow: Uow) -> None:
        nonlocal attempts
        attempts += 1
        await uow.connection.execute(insert(counters).values(id="a", n=1))
        await uow.connection.execute(insert(counters).values(id="a", n=2))

    # SQLite serialises writers: a unique violation there is a bug, never a race.
    with pytest.raises(IntegrityError):
        await run_with_retries(lambda: Uow(sqlite), work)
    assert attempts == 1 and await rows(sqlite) == {}


async def test_a_custom_classifier_maps_a_services_own_exception(sqlite: AsyncEngine) -> None:
    class ConcurrentUpdate(Exception):  # what identity raises today
        def __init__(self, reason: str) -> None:
            self.reason = reason

    attempts = 0

    async def work(uow: Uow) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConcurrentUpdate("STALE_READ")
        return attempts

    def classify(exc: BaseException) -> str | None:
        return exc.reason if isinstance(exc, ConcurrentUpdate) else transient_conflict(exc)

    assert await run_with_retries(lambda: Uow(sqlite), work, classify=classify) == 2


async def test_advisory_locks_are_a_no_op_on_sqlite(sqlite: AsyncEngine) -> None:
    async with Uow(sqlite) as uow:
        await advisory_xact_locks(uow.connection, [advisory_key("a"), advisory_key("b")])
        await uow.commit()


def test_advisory_keys_are_stable_signed_64_bit() -> None:
    key = advisory_key("rapport.identity", "default", "email", "a@x.io")
    # The derivation identity already uses: replicas of either release agree.
    material = b"rapport.identity\x1fdefault\x1femail\x1fa@x.io"
    expected = int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big", signed=True)
    assert key == expected
    keys = {advisory_key("ns", str(i)) for i in range(2000)}
    assert len(keys) == 2000
    assert all(-(2**63) <= k < 2**63 for k in keys) and min(keys) < 0 < max(keys)


# --- PostgreSQL: the races the helper exists for ----------------------------------------


async def test_postgres_racing_inserts_of_one_key_end_in_one_row(postgres: AsyncEngine) -> None:
    both_read = asyncio.Barrier(2)
    attempts = 0

    async def increment(uow: Uow) -> None:
        nonlocal attempts
        attempts += 1
        found = await uow.connection.scalar(select(counters.c.n).where(counters.c.id == "c"))
        if attempts <= 2:
            await both_read.wait()  # both saw no row: both insert
        if found is None:
            await uow.connection.execute(insert(counters).values(id="c", n=1))
        else:
            await uow.connection.execute(
                update(counters).where(counters.c.id == "c").values(n=counters.c.n + 1)
            )

    await asyncio.gather(
        run_with_retries(lambda: Uow(postgres), increment),
        run_with_retries(lambda: Uow(postgres), increment),
    )
    assert await rows(postgres) == {"c": 2}
    assert attempts == 3  # the loser's unique violation was retried once


async def test_postgres_deadlock_is_retried(postgres: AsyncEngine) -> None:
    async with postgres.begin() as conn:
        await conn.execute(insert(counters), [{"id": "a", "n": 0}, {"id": "b", "n": 0}])
    first_locked = asyncio.Barrier(2)
    attempts = 0

    def bump(first: str, second: str):
        async def work(uow: Uow) -> None:
            nonlocal attempts
            attempts += 1
            await uow.connection.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
            for i, row in enumerate((first, second)):
                await uow.connection.execute(
                    update(counters).where(counters.c.id == row).values(n=counters.c.n + 1)
                )
                if i == 0 and attempts <= 2:
                    await first_locked.wait()  # each holds one row and wants the other's

        return work

    await asyncio.gather(
        run_with_retries(lambda: Uow(postgres), bump("a", "b")),
        run_with_retries(lambda: Uow(postgres), bump("b", "a")),
    )
    assert await rows(postgres) == {"a": 2, "b": 2}
    assert attempts == 3


async def test_postgres_serialization_failure_is_retried(postgres: AsyncEngine) -> None:
    async with postgres.begin() as conn:
        await conn.execute(insert(counters).values(id="s", n=0))
    both_read = asyncio.Barrier(2)
    attempts = 0

    async def read_then_write(uow: Uow) -> None:
        nonlocal attempts
        attempts += 1
        await uow.connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        n = await uow.connection.scalar(select(counters.c.n).where(counters.c.id == "s"))
        if attempts <= 2:
            await both_read.wait()
        await uow.connection.execute(update(counters).where(counters.c.id == "s").values(n=n + 1))

    await asyncio.gather(
        run_with_retries(lambda: Uow(postgres), read_then_write),
        run_with_retries(lambda: Uow(postgres), read_then_write),
    )
    assert await rows(postgres) == {"s": 2}  # no lost update
    assert attempts == 3


async def test_postgres_advisory_locks_exclude_and_never_deadlock(postgres: AsyncEngine) -> None:
    keys = [advisory_key("t", name) for name in ("x", "y", "z")]
    async with Uow(postgres) as holder:
        await advisory_xact_locks(holder.connection, keys[:2])
        async with postgres.connect() as other:
            taken = await other.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": keys[0]})
            free = await other.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": keys[2]})
            await other.rollback()
        assert (taken, free) == (False, True)
    # Released with the transaction.
    async with postgres.connect() as other:
        assert await other.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": keys[0]})
        await other.rollback()

    # Overlapping sets asked for in opposite orders: sorted, they queue, never deadlock.
    order: list[int] = []

    async def lock_and_hold(i: int, wanted: list[int]) -> None:
        async with Uow(postgres) as uow:
            await uow.connection.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
            await advisory_xact_locks(uow.connection, wanted)
            order.append(i)
            await asyncio.sleep(0.05)
            await uow.commit()

    await asyncio.gather(*(lock_and_hold(i, keys[:: 1 if i % 2 else -1]) for i in range(6)))
    assert sorted(order) == list(range(6))


async def test_postgres_shared_advisory_locks_share_and_exclude_the_exclusive(
    postgres: AsyncEngine,
) -> None:
    key = advisory_key("t", "definitions")

    async def try_lock(sql: str) -> bool:
        async with postgres.connect() as other:
            got = bool(await other.scalar(text(sql), {"k": key}))
            await other.rollback()
            return got

    async with Uow(postgres) as reader, Uow(postgres) as second_reader:
        await advisory_xact_locks(reader.connection, [key], shared=True)
        await advisory_xact_locks(second_reader.connection, [key], shared=True)  # no wait
        assert await try_lock("SELECT pg_try_advisory_xact_lock_shared(:k)")
        assert not await try_lock("SELECT pg_try_advisory_xact_lock(:k)")
    assert await try_lock("SELECT pg_try_advisory_xact_lock(:k)")  # released at the end
    async with Uow(postgres) as writer:
        await advisory_xact_locks(writer.connection, [key])
        assert not await try_lock("SELECT pg_try_advisory_xact_lock_shared(:k)")


async def reads_during_a_commit(engine: AsyncEngine) -> dict[str, list[int]]:
    """Per mode, the rows a unit of work counts before and after another commits."""

    async def count(uow: Uow) -> int:
        return len((await uow.connection.execute(select(counters))).all())

    seen: dict[str, list[int]] = {}
    for mode in ("readonly", "snapshot"):
        async with Uow(engine, **{mode: True}) as reader:
            first = await count(reader)
            async with Uow(engine) as writer:
                await writer.connection.execute(insert(counters).values(id=mode, n=1))
                await writer.commit()
            seen[mode] = [first, await count(reader)]
    return seen


async def test_a_snapshot_unit_reads_one_moment_on_postgres(postgres: AsyncEngine) -> None:
    # READ COMMITTED sees the commit: why exports ask for the snapshot.
    assert await reads_during_a_commit(postgres) == {"readonly": [0, 1], "snapshot": [1, 1]}


async def test_a_read_unit_reads_one_moment_on_sqlite(sqlite: AsyncEngine) -> None:
    assert await reads_during_a_commit(sqlite) == {"readonly": [0, 0], "snapshot": [1, 1]}


def test_database_unreachable_tells_a_database_away_from_a_bad_statement() -> None:
    away = OperationalError("SELECT 1", {}, ConnectionRefusedError())
    dropped = DBAPIError("SELECT 1", {}, Exception(), connection_invalidated=True)
    assert database_unreachable(away) and database_unreachable(dropped)
    assert database_unreachable(ConnectionResetError())
    assert not database_unreachable(ProgrammingError("SELEC 1", {}, Exception()))
    assert not database_unreachable(IntegrityError("INSERT", {}, Exception()))
    assert not database_unreachable(ValueError("bad value"))
