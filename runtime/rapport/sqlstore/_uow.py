"""Base unit of work: one connection, one transaction, rollback unless committed."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ._engine import SQLITE_BEGIN_OPTION, is_postgres, is_sqlite

# One writer at a time per SQLite database (each service is one process per
# file), so writers queue in-process instead of failing with "database is locked".
_sqlite_write_locks: WeakKeyDictionary[Engine, asyncio.Lock] = WeakKeyDictionary()


def _write_lock(engine: AsyncEngine) -> asyncio.Lock:
    lock = _sqlite_write_locks.get(engine.sync_engine)
    if lock is None:
        lock = _sqlite_write_locks[engine.sync_engine] = asyncio.Lock()
    return lock


class SqlUnitOfWork:
    """``async with uow: ...; await uow.commit()``; leaving without commit rolls back.

    Subclasses override :meth:`_open_repositories` to build their repositories
    on ``self.connection``. Not re-entrant: on SQLite, nesting two writing
    units of work on the same engine would wait on itself.

    ``snapshot=True`` (implies ``readonly``): every statement reads the database as
    it was at the first one, for answers assembled from several reads (a data
    subject's export) that a concurrent commit must not split. PostgreSQL runs the
    transaction REPEATABLE READ (read-only transactions there never fail to
    serialise); SQLite's deferred read transaction already keeps one snapshot.
    """

    connection: AsyncConnection

    def __init__(
        self, engine: AsyncEngine, *, readonly: bool = False, snapshot: bool = False
    ) -> None:
        self.engine = engine
        self.readonly = readonly or snapshot
        self.snapshot = snapshot
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> Self:
        sqlite = is_sqlite(self.engine)
        if sqlite and not self.readonly:
            self._lock = _write_lock(self.engine)
            await self._lock.acquire()
        try:
            connection = await self.engine.connect()
            try:
                if sqlite and not self.readonly:
                    # Take the write lock up front: a deferred transaction that
                    # upgrades from read to write can fail with SQLITE_BUSY.
                    await connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                if self.snapshot and is_postgres(self.engine):
                    await connection.execution_options(isolation_level="REPEATABLE READ")
                await connection.begin()
            except BaseException:
                await connection.close()
                raise
        except BaseException:
            self._release()
            raise
        self.connection = connection
        self._open_repositories()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Shielded: a cancelled request (client gone, deadline) must still
        # roll back and return its connection, or PostgreSQL keeps an
        # "idle in transaction" session holding locks.
        cleanup = asyncio.ensure_future(self._finish())
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            await cleanup
            raise

    async def _finish(self) -> None:
        try:
            if self.connection.in_transaction():
                await self.connection.rollback()
        except BaseException:
            # The connection is in an unknown state: drop it from the pool.
            await self.connection.invalidate()
            raise
        finally:
            try:
                await self.connection.close()
            finally:
                self._release()

    async def commit(self) -> None:
        await self.connection.commit()

    async def rollback(self) -> None:
        await self.connection.rollback()

    def _open_repositories(self) -> None:
        """Create repository attributes from ``self.connection`` (override)."""

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
