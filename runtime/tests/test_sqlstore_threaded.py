"""SQLite statements in the connection's worker thread, one hop each (the default):
results of any size, streaming, errors, cancelled callers, a forced stop, and the held-back
BEGIN IMMEDIATE that still takes the write lock before the transaction's first
statement."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from rapport.sqlstore import SqlUnitOfWork, create_engine
from rapport.sqlstore._threaded_sqlite import threaded_connector
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

ROWS = 2_500  # more than one hop's worth (_ROWS_PER_HOP = 1,000)


async def notes_engine(path: Path, rows: int = 0) -> AsyncEngine:
    engine = create_engine(f"sqlite:///{path}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
        if rows:
            await conn.execute(
                text("INSERT INTO notes (body) VALUES (:body)"),
                [{"body": f"n{i}"} for i in range(rows)],
            )
    return engine


async def test_results_larger_than_one_hop_come_back_whole(tmp_path: Path) -> None:
    engine = await notes_engine(tmp_path / "big.db", ROWS)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id FROM notes ORDER BY id"))).all()
            assert [row.id for row in rows] == list(range(1, ROWS + 1))
            streamed = await conn.stream(text("SELECT body FROM notes ORDER BY id"))
            bodies = [row.body async for row in streamed]
            assert bodies == [f"n{i}" for i in range(ROWS)]
            partial = await conn.stream(text("SELECT id FROM notes ORDER BY id"))
            first = await partial.fetchmany(1_500)
            await partial.close()  # the rest is never fetched: the cursor is closed
            assert [row.id for row in first] == list(range(1, 1_501))
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar() == ROWS
    finally:
        await engine.dispose()


async def test_a_failing_statement_raises_and_the_transaction_rolls_back(tmp_path: Path) -> None:
    engine = await notes_engine(tmp_path / "fail.db", 1)
    try:
        with pytest.raises(IntegrityError):
            async with SqlUnitOfWork(engine) as uow:
                await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('fresh')"))
                await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('n0')"))
                await uow.commit()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_cancelled_caller_leaves_the_connection_usable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await notes_engine(tmp_path / "cancel.db", ROWS)
    slow = text(
        "SELECT count(*) FROM notes a, notes b WHERE a.id % 7 = b.id % 11"  # a second or so
    )
    try:
        for _ in range(3):
            async with engine.connect() as conn:
                task = asyncio.ensure_future(conn.execute(slow))
                await asyncio.sleep(0.05)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
        async with SqlUnitOfWork(engine) as uow:
            await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('after')"))
            await uow.commit()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar() == ROWS + 1
    finally:
        await engine.dispose()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_write_lock_is_taken_before_the_first_statement(tmp_path: Path) -> None:
    """A unit of work begun IMMEDIATE holds the write lock from its first statement,
    a read included: another process's writer waits for its commit."""
    path = tmp_path / "lock.db"
    engine = await notes_engine(path)
    read_done, other_started = asyncio.Event(), threading.Event()
    outcome: list[str] = []

    def other_writer() -> None:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        other_started.set()
        try:
            other.execute("BEGIN IMMEDIATE")
            outcome.append("other got the lock")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError:
            outcome.append("other refused")
        finally:
            other.close()

    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.connection.execute(text("SELECT count(*) FROM notes"))
            read_done.set()
            await asyncio.to_thread(other_writer)
            await uow.connection.execute(text("INSERT INTO notes (body) VALUES ('mine')"))
            await uow.commit()
        assert other_started.is_set()
        assert outcome == ["other refused"]
    finally:
        await engine.dispose()


async def test_a_unit_of_work_that_writes_nothing_leaves_the_write_lock_free(
    tmp_path: Path,
) -> None:
    path = tmp_path / "empty.db"
    engine = await notes_engine(path)

    def another_writer_gets_the_lock() -> bool:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()

    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.commit()
            assert await asyncio.to_thread(another_writer_gets_the_lock)
        async with SqlUnitOfWork(engine) as uow:
            await uow.rollback()
            assert await asyncio.to_thread(another_writer_gets_the_lock)
        with pytest.raises(OperationalError):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM missing_table"))
    finally:
        await engine.dispose()


async def test_a_forced_stop_outside_the_loop_closes_the_connection(tmp_path: Path) -> None:
    connection = await threaded_connector([str(tmp_path / "stop.db")], {})()
    raw = connection._connection
    assert raw is not None
    worker = connection._worker
    await asyncio.to_thread(connection.stop)  # as garbage collection would: no loop there
    # Only once the worker has run the close: touching the sqlite3 connection while
    # another thread closes it can crash the process.
    for _ in range(200):
        if worker.idle:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the worker did not run the close")
    with pytest.raises(sqlite3.ProgrammingError):  # "Cannot operate on a closed database."
        raw.execute("SELECT 1")


async def test_a_call_after_a_forced_stop_fails_instead_of_waiting(tmp_path: Path) -> None:
    path = tmp_path / "stopped.db"
    await (await notes_engine(path, ROWS)).dispose()
    connection = await threaded_connector([str(path)], {})()
    cursor = await connection.cursor()
    await cursor.execute("SELECT id FROM notes")  # one hop's rows: the cursor stays open
    connection.stop()  # SQLAlchemy's forced terminate (an invalidated connection)
    with pytest.raises(ValueError, match="no active connection"):
        # Before: queued behind the thread's end, never answered.
        await asyncio.wait_for(cursor.fetchall(), 2)
