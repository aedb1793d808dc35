"""SQLite statements run in the loop's thread: lock waits sleep in the loop instead of
blocking it, and a lock held too long still fails as a busy timeout would."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import rapport.sqlstore._engine as engine_module
from rapport.sqlstore import SqlUnitOfWork, create_engine
from sqlalchemy import text
from sqlalchemy.exc import OperationalError


async def make_table(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))


def hold_write_lock(path: Path, seconds: float, taken: threading.Event) -> threading.Thread:
    """Another connection (another thread, as another process would) holds the
    database's write lock for ``seconds``."""

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO notes (body) VALUES ('other')")
        taken.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


async def test_writer_waits_for_a_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        await make_table(engine)
        taken = threading.Event()
        holder = hold_write_lock(path, 0.4, taken)
        await asyncio.to_thread(taken.wait)
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
        holder.join()
        assert waited >= 0.2  # it did wait for the other writer...
        assert ticks >= 10  # ...while the loop went on running other tasks
        async with engine.connect() as conn:
            bodies = (await conn.execute(text("SELECT body FROM notes ORDER BY id"))).scalars()
            assert list(bodies) == ["other", "mine"]
    finally:
        await engine.dispose()


async def test_a_lock_held_longer_than_the_wait_fails_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_LOCK_WAIT_SECONDS", 0.1)
    path = tmp_path / "svc.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        await make_table(engine)
        taken = threading.Event()
        holder = hold_write_lock(path, 0.6, taken)
        await asyncio.to_thread(taken.wait)
        with pytest.raises(OperationalError, match="locked"):
            async with SqlUnitOfWork(engine) as uow:
                await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('mine')"))
                await uow.commit()
        holder.join()
        async with engine.connect() as conn:
            bodies = (await conn.execute(text("SELECT body FROM notes"))).scalars()
            assert list(bodies) == ["other"]
    finally:
        await engine.dispose()


async def test_readers_are_not_held_up_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        await make_table(engine)
        taken = threading.Event()
        holder = hold_write_lock(path, 0.5, taken)
        await asyncio.to_thread(taken.wait)
        started = time.monotonic()
        async with SqlUnitOfWork(engine, readonly=True) as uow:  # WAL: a snapshot read
            rows = (await uow.connection.execute(text("SELECT count(*) FROM notes"))).scalar()
        assert rows == 0 and time.monotonic() - started < 0.3
        holder.join()
    finally:
        await engine.dispose()
