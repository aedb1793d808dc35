"""SQLite statements in a worker thread, one thread hop per statement (the default).

aiosqlite also runs SQLite in a worker thread, but hands over every call: cursor,
execute, fetch and close are four hops per statement, and each hop (a queue, a
thread wake-up, the loop woken back) costs more CPU than the indexed reads and
small writes services make (bench/bench_sqlite_driver.py). Here a statement runs
with its first rows fetched in one hop; what cannot wait on the database file
(opening a cursor, reading fetched rows, closing, a deferred BEGIN, a rollback)
runs in the loop's thread. The loop still goes on while SQLite works or waits for a
lock (the busy timeout waits in the worker thread), unlike the in-loop connection
(_inline_sqlite), which SQLAlchemy's aiosqlite dialect drives the same way.

One thread per connection runs its calls in order. A call the loop would make
itself while a cancelled caller's statement still runs in the thread is queued
behind it instead, so the sqlite3 connection is never used by two threads at once.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ._inline_sqlite import InlineConnection

__all__ = ["ThreadedConnection", "threaded_connector"]

T = TypeVar("T")

# Rows fetched in a statement's own hop; a larger result costs one hop per chunk.
_ROWS_PER_HOP = 1000
# Statements that take no lock and read nothing: run without a hop.
_INSTANT = frozenset({"BEGIN", "BEGIN DEFERRED"})
# Transactions that take the write lock at once: started with the next statement.
_HELD = frozenset({"BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"})


class _Worker:
    """The connection's thread: runs calls in the order given, settles their futures
    on the loop that gave them. A plain queue and thread: cheaper per hop than an
    executor's."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self.given = 0
        self.finished = 0  # counted by the thread once a call has returned
        self.stopped = False
        threading.Thread(target=self._serve, name="sqlite", daemon=True).start()

    def give(self, call: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self.stopped:
            # The thread ends after the calls given before: this one would wait forever
            # (e.g. fetching the rest of a cursor after a forced stop).
            future.set_exception(ValueError("no active connection"))
            return future
        self.given += 1
        self._calls.put((loop, future, call))
        return future

    @property
    def idle(self) -> bool:
        return self.finished == self.given

    def stop(self, last: Callable[[], Any] | None = None) -> None:
        """End the thread once the calls given are done, and ``last()`` after them."""
        if self.stopped:
            return
        self.stopped = True
        if last is not None:
            self.given += 1
            self._calls.put((None, None, last))
        self._calls.put(None)

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            loop, future, call = item
            result, error = None, None
            try:
                result = call()
            except BaseException as caught:  # handed to the caller, whatever it is
                error = caught
            self.finished += 1
            if loop is not None and future is not None:
                _settle(loop, future, result, error)


# (loop, future, call); no loop nor future for a call nobody waits for.
_Call = tuple[asyncio.AbstractEventLoop | None, asyncio.Future[Any] | None, Callable[[], Any]]


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(_set, future, result, error)
    except RuntimeError:  # the loop is closed: nobody waits any more
        return


def _set(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the caller gave up; the call ran all the same
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class ThreadedConnection(InlineConnection):
    """aiosqlite.Connection's interface (the part SQLAlchemy uses) over sqlite3, with
    the statements run by a worker thread of the connection's own.

    A ``BEGIN IMMEDIATE`` (or EXCLUSIVE) is held back and run in the next statement's
    hop, just before it: the transaction starts before anything it reads or writes,
    one hop sooner. Committed or rolled back with nothing in it, it is dropped."""

    def __init__(self, connection: sqlite3.Connection, worker: _Worker) -> None:
        super().__init__(connection, wait_seconds=0.0)
        self._worker = worker
        self.held_begin: str | None = None

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` in the connection's thread, after the calls handed over before."""
        return await self._worker.give(call)

    async def run_here(self, call: Callable[[], T]) -> T:
        """``call()`` in this thread, unless the worker still runs an earlier call."""
        if self._worker.idle:
            return call()
        return await self.run(call)

    def take_begin(self) -> str | None:
        begin, self.held_begin = self.held_begin, None
        return begin

    def _new_cursor(self) -> ThreadedCursor:
        return ThreadedCursor(self)

    async def commit(self) -> None:
        connection = self._open()
        if self.take_begin() is not None:
            return  # nothing ran in the transaction
        await self.run(connection.commit)

    async def rollback(self) -> None:
        connection = self._open()
        if self.take_begin() is not None:
            return
        await self.run_here(connection.rollback)

    async def close(self) -> None:
        if self._conn is not None:
            connection, self._conn = self._conn, None
            self.held_begin = None
            try:
                await self.run_here(connection.close)
            finally:
                self._worker.stop()

    def stop(self) -> None:
        """Close without waiting (SQLAlchemy's forced terminate): after any running call."""
        if self._conn is not None:
            connection, self._conn = self._conn, None
            self._worker.stop(last=connection.close)


class ThreadedCursor:
    """aiosqlite.Cursor's coroutine methods; rows come back with the statement."""

    __slots__ = (
        "_connection",
        "_cursor",
        "_rows",
        "arraysize",
        "description",
        "lastrowid",
        "rowcount",
    )

    def __init__(self, connection: ThreadedConnection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor | None = None  # open while rows remain unfetched
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> ThreadedCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = ()) -> ThreadedCursor:
        connection = self._connection._open()
        await self._discard()
        if sql in _HELD:
            self._connection.held_begin = sql
            self.description, self.rowcount, self.lastrowid = None, -1, None
            return self
        begin = self._connection.take_begin()

        def run() -> tuple[Any, int, int | None, list[Any], sqlite3.Cursor | None]:
            if begin is not None:
                connection.execute(begin)
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                description = cursor.description
                rows = cursor.fetchmany(_ROWS_PER_HOP) if description is not None else []
            except BaseException:
                cursor.close()
                raise
            rowcount, lastrowid = cursor.rowcount, cursor.lastrowid
            if len(rows) < _ROWS_PER_HOP:
                cursor.close()
                return description, rowcount, lastrowid, rows, None
            return description, rowcount, lastrowid, rows, cursor

        instant = sql in _INSTANT and begin is None
        runner = self._connection.run_here if instant else self._connection.run
        self.description, self.rowcount, self.lastrowid, rows, self._cursor = await runner(run)
        self._rows = collections.deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> ThreadedCursor:
        connection, rows = self._connection._open(), list(parameters)
        await self._discard()
        begin = self._connection.take_begin()

        def run() -> tuple[int, int | None]:
            if begin is not None:
                connection.execute(begin)
            cursor = connection.cursor()
            try:
                cursor.executemany(sql, rows)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self.rowcount, self.lastrowid = await self._connection.run(run)
        self.description = None
        return self

    async def _fetch_more(self, size: int | None) -> None:
        """The next ``size`` rows (all with None) from the thread; closes when done."""
        cursor = self._cursor
        if cursor is None:
            return

        def run() -> tuple[list[Any], bool]:
            rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
            done = size is None or len(rows) < size
            if done:
                cursor.close()
            return rows, done

        rows, done = await self._connection.run(run)
        self._rows.extend(rows)
        if done:
            self._cursor = None

    async def fetchone(self) -> Any:
        if not self._rows:
            await self._fetch_more(_ROWS_PER_HOP)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        wanted = self.arraysize if size is None else size
        while len(self._rows) < wanted and self._cursor is not None:
            await self._fetch_more(max(wanted - len(self._rows), _ROWS_PER_HOP))
        rows = self._rows
        return [rows.popleft() for _ in range(min(wanted, len(rows)))]

    async def fetchall(self) -> list[Any]:
        await self._fetch_more(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        await self._discard()

    async def _discard(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            await self._connection.run_here(cursor.close)

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    def __aiter__(self) -> ThreadedCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


def threaded_connector(args: list[Any], kwargs: dict[str, Any]) -> Callable[[], Any]:
    """An ``async_creator`` for SQLAlchemy: sqlite3.connect(*args, **kwargs) opened by
    the connection's own worker thread."""
    options = {**kwargs, "check_same_thread": False}

    async def connect() -> ThreadedConnection:
        worker = _Worker()
        try:
            connection = await worker.give(lambda: sqlite3.connect(*args, **options))
        except BaseException:
            worker.stop()
            raise
        return ThreadedConnection(connection, worker)

    return connect
