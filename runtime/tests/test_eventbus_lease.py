"""One relay per log across replicas (PostgreSQL advisory lease), and the relay position
kept in the database."""

from __future__ import annotations

import asyncio

import pytest
from rapport.eventbus import NatsBus, PostgresLease, SoleLease, relay_lease
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine
from sqlalchemy import text

from ._eventbus_support import SqlLog, make_relay, stream_contents


@pytest.fixture
async def pg_log(postgres_url: str, pg_schema: str):
    log = await SqlLog.create(postgres_url, schema=pg_schema)
    yield log
    await log.engine.dispose()


class Replica:
    """A relay as one replica runs it: its own engine (so its own lease session) and bus."""

    def __init__(self, name, nats_url, postgres_url, schema, subjects, log) -> None:
        self.engine = create_engine(postgres_url, schema=schema)
        self.bus = NatsBus(nats_url, name=name, reconnect_seconds=0.1)
        self.lease = PostgresLease(
            self.engine, "test", subjects.root, retry_seconds=0.1, check_seconds=0.2
        )
        self.relay = make_relay(self.bus, subjects, log, lease=self.lease)
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.relay.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.bus.close()
        await self.engine.dispose()


@pytest.fixture
async def replicas(nats_url, postgres_url, pg_schema, log_subjects, pg_log):
    made = [
        Replica(name, nats_url, postgres_url, pg_schema, log_subjects, pg_log)
        for name in ("a", "b")
    ]
    yield made
    for replica in made:
        await replica.stop()


async def test_one_replica_relays_and_the_other_takes_over_when_it_stops(
    nats_url, log_subjects, pg_log, replicas
) -> None:
    await pg_log.append(40)
    for replica in replicas:
        replica.start()
    await eventually(lambda: sum(r.relay.stats.published for r in replicas) == 40)
    await asyncio.sleep(0.5)  # the other had every chance to publish too
    leader, follower = sorted(replicas, key=lambda r: -r.relay.stats.published)
    assert leader.relay.stats.published == 40
    assert (follower.relay.stats.published, follower.relay.stats.duplicates) == (0, 0)

    await leader.stop()  # its session ends: the lock is free
    await pg_log.append(20)
    await eventually(lambda: follower.relay.stats.published == 20)
    stored = await stream_contents(nats_url, log_subjects.stream)
    assert [s.data.decode() for s in stored] == [str(n) for n in range(1, 61)]


async def test_a_leader_whose_database_session_dies_loses_the_lease(
    nats_url, postgres_url, log_subjects, pg_log, replicas
) -> None:
    await pg_log.append(10)
    for replica in replicas:
        replica.start()
    await eventually(lambda: sum(r.relay.stats.published for r in replicas) == 10)
    leader, follower = sorted(replicas, key=lambda r: -r.relay.stats.published)

    key = leader.lease._key
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            # A session advisory lock on a bigint key shows as classid (high 32 bits)
            # and objid (low 32 bits), objsubid 1.
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objsubid = 1 AND classid::bigint = :high AND objid::bigint = :low"
                ),
                {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
            )
    finally:
        await engine.dispose()
    await eventually(lambda: leader.relay.stats.leases_lost == 1)
    await pg_log.append(10)
    await eventually(
        lambda: leader.relay.stats.published + follower.relay.stats.published == 20, timeout=10
    )
    stored = await stream_contents(nats_url, log_subjects.stream)
    assert [s.data.decode() for s in stored] == [str(n) for n in range(1, 21)]


async def test_a_cancel_as_the_lease_is_let_go_is_not_lost(postgres_url, pg_schema) -> None:
    """Cancelled in the loop turn the lease stops its watch (the relay stopping as it
    lost the lease): the cancel ends the task, and the lock is released all the same."""
    engine = create_engine(postgres_url, schema=pg_schema)
    lease = PostgresLease(engine, "test", "letgo", retry_seconds=0.1)
    after_the_lease: list[str] = []

    async def hold_once() -> None:
        async with lease.hold():
            asyncio.get_running_loop().call_soon(asyncio.current_task().cancel)
        after_the_lease.append("ran on")  # what a relay does next: take the lease again

    try:
        task = asyncio.create_task(hold_once())
        await asyncio.wait([task], timeout=5)
        assert task.cancelled() and after_the_lease == []
        # Released: another session takes it at once.
        other = PostgresLease(engine, "test", "letgo", retry_seconds=0.1)
        async with asyncio.timeout(5):
            async with other.hold() as lost:
                assert not lost.is_set()
    finally:
        await engine.dispose()


async def moves_only_forwards(log: SqlLog) -> None:
    position = log.position("signals")
    assert await position.load() == 0
    await position.save(10)
    await position.save(5)  # a relay that fell behind
    assert await position.load() == 10
    await position.save(12)
    assert await log.position("changes").load() == 0  # one row per log
    assert await position.load() == 12


async def test_the_relay_position_only_moves_forwards_on_postgres(pg_log) -> None:
    await moves_only_forwards(pg_log)


async def test_the_relay_position_only_moves_forwards_on_sqlite(tmp_path) -> None:
    log = await SqlLog.create(f"sqlite+aiosqlite:///{tmp_path}/positions.db")
    try:
        await moves_only_forwards(log)
    finally:
        await log.engine.dispose()


async def test_sqlite_needs_no_lease(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        assert isinstance(relay_lease(engine, "profile", "signals"), SoleLease)
    finally:
        await engine.dispose()
