"""SQLite statements run in the event loop's own thread, behind aiosqlite's interface
(``create_engine(..., sqlite_in_loop=True)``, a service's SQLITE_IN_LOOP setting).

aiosqlite hands every call (cursor, execute, fetch, close) to a worker thread and
back: four thread hops per statement, many times the cost of the statement itself
for the indexed reads and small writes services make (bench/bench_sqlite_driver.py:
a read-only unit of work ~1.9x and a small write ~4x the CPU). SQLAlchemy's
aiosqlite dialect drives this module's connection exactly as it drives aiosqlite's
(``async_creator``): same dialect, same SQL, same types. The price: while SQLite
works (a commit writing the WAL, a long scan), the loop waits, where the worker
thread let it go on; a write-heavy service can lose more than it saves.

Waiting for a lock must not block the loop, because the writer holding it may be
a coroutine of this very loop. So the connection's busy timeout is 0 and a
statement refused with SQLITE_BUSY (or SQLITE_LOCKED) is retried after an
``asyncio.sleep``, until the time a busy timeout would have allowed. Retrying is
what SQLite's own busy handler does: a statement refused for a lock changed
nothing. BUSY_SNAPSHOT (a deferred transaction's stale read snapshot) is not
retried: only a new transaction can resolve it, as with the busy handler.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_BUSY_SNAPSHOT = 517
_FIRST_PAUSE_SECONDS = 0.001
_LONGEST_PAUSE_SECONDS = 0.05


def _lock_refused(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # Python < 3.11 has no error codes: the message tells
        return "database is locked" in str(error) or "database table is locked" in str(error)
    return code != _SQLITE_BUSY_SNAPSHOT and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


async def _until_unlocked(call: Callable[[], Any], wait_seconds: float) -> Any:
    try:
        return call()
    except sqlite3.OperationalError as error:
        if not _lock_refused(error):
            raise
    give_up = time.monotonic() + wait_seconds
    pause = _FIRST_PAUSE_SECONDS
    while True:
        await asyncio.sleep(pause)
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _lock_refused(error) or time.monotonic() >= give_up:
                raise
        pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)


class InlineCursor:
    """aiosqlite.Cursor's coroutine methods over a sqlite3 cursor, without a thread."""

    __slots__ = ("_connection", "_cursor")

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        cursor = self._cursor
        await _until_unlocked(lambda: cursor.execute(sql, parameters), self._connection.wait)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        cursor, rows = self._cursor, list(parameters)
        await _until_unlocked(lambda: cursor.executemany(sql, rows), self._connection.wait)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's request queue, which SQLAlchemy's dialect uses to
    set ``isolation_level``: the request runs at once, in this thread."""

    __slots__ = ()

    @staticmethod
    def put_nowait(request: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = request
        try:
            result = function()
        except BaseException as error:
            if future is not None:
                future.set_exception(error)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """aiosqlite.Connection's interface (the part SQLAlchemy uses) over sqlite3."""

    _tx = _RunNow()

    def __init__(self, connection: sqlite3.Connection, *, wait_seconds: float) -> None:
        self._conn: sqlite3.Connection | None = connection
        self.wait = wait_seconds

    @property
    def _connection(self) -> sqlite3.Connection | None:  # aiosqlite's name, read by SQLAlchemy
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> _CursorOpening:
        return _CursorOpening(self)

    def _new_cursor(self) -> Any:
        return InlineCursor(self, self._open().cursor())

    async def commit(self) -> None:
        connection = self._open()
        await _until_unlocked(connection.commit, self.wait)

    async def rollback(self) -> None:
        self._open().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            connection, self._conn = self._conn, None
            connection.close()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's forced terminate)."""
        if self._conn is not None:
            connection, self._conn = self._conn, None
            connection.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._open().in_transaction

    @property
    def total_changes(self) -> int:
        return self._open().total_changes


class _CursorOpening:
    """``connection.cursor()`` as aiosqlite returns it: awaitable, or entered with
    ``async with``."""

    __slots__ = ("_connection",)

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection

    def __await__(self) -> Any:
        return self._make_async().__await__()

    async def _make_async(self) -> Any:
        return self._connection._new_cursor()

    async def __aenter__(self) -> Any:
        return self._connection._new_cursor()

    async def __aexit__(self, *_exc: object) -> None:
        return None


def inline_connector(
    args: list[Any], kwargs: dict[str, Any], *, wait_seconds: float
) -> Callable[[], Any]:
    """An ``async_creator`` for SQLAlchemy: sqlite3.connect(*args, **kwargs) with the
    busy timeout at 0 (the wait happens in :func:`_until_unlocked`)."""
    options = {**kwargs, "timeout": 0, "check_same_thread": False}

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(*args, **options), wait_seconds=wait_seconds)

    return connect
