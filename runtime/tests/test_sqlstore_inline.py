"""SQLite statements run in the loop's thread: lock waits sleep in the loop instead of
blocking it, and a lock held too long still fails as a busy timeout would."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import rapport.sqlstore._engine as engine_module
from rapport.sqlstore import SqlUnitOfWork, create_engine
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def locked_by_another_writer(path: Path, seconds: float) -> AsyncIterator[AsyncEngine]:
    """An engine on a database whose write lock another connection (in another
    thread, as another process would) holds for ``seconds`` from now, inserting
    'other'; the engine is disposed and the other writer joined at the end."""
    engine = create_engine(f"sqlite:///{path}", sqlite_in_loop=True)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO notes (body) VALUES ('other')")
        taken.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        await asyncio.to_thread(taken.wait)
        yield engine
    finally:
        await asyncio.to_thread(holder.join)
        await engine.dispose()


async def test_in_loop_sqlite_waits_for_locks_in_the_loop_not_in_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'svc.db'}", sqlite_in_loop=True)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 0
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await engine.dispose()


async def bodies(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT body FROM notes ORDER BY id"))).scalars())


async def test_writer_waits_for_a_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    async with locked_by_another_writer(tmp_path / "svc.db", 0.4) as engine:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        async with SqlUnitOfWork(engine) as uow:  # BEGIN IMMEDIATE waits for the lock
            await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('mine')"))
            await uow.commit()
        waited = time.monotonic() - started
        ticker.cancel()
        assert waited >= 0.2  # it did wait for the other writer...
        assert ticks >= 10  # ...while the loop went on running other tasks
        assert await bodies(engine) == ["other", "mine"]


async def test_a_lock_held_longer_than_the_wait_fails_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_LOCK_WAIT_SECONDS", 0.1)
    async with locked_by_another_writer(tmp_path / "svc.db", 0.6) as engine:
        with pytest.raises(OperationalError, match="locked"):
            async with SqlUnitOfWork(engine) as uow:
                await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('mine')"))
                await uow.commit()
    assert await bodies(engine) == ["other"]  # the other writer's row only


async def test_readers_are_not_held_up_by_a_writer(tmp_path: Path) -> None:
    async with locked_by_another_writer(tmp_path / "svc.db", 0.5) as engine:
        started = time.monotonic()
        async with SqlUnitOfWork(engine, readonly=True) as uow:  # WAL: a snapshot read
            rows = (await uow.connection.execute(text("SELECT count(*) FROM notes"))).scalar()
        assert rows == 0 and time.monotonic() - started < 0.3
