"""Which replica relays a log: a PostgreSQL session advisory lock, or every one alone.

The relay is correct with several replicas publishing at once (the stream drops
re-published records by ``Nats-Msg-Id`` and refuses out-of-chain ones), so the lease
only saves work: one replica reads the log and publishes, the others wait, and take
over within ``retry_seconds`` when it stops or its database session dies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from rapport.sqlstore import advisory_key, is_postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_log = logging.getLogger("rapport.eventbus")

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


class Lease(Protocol):
    def hold(self) -> AbstractAsyncContextManager[asyncio.Event]:
        """Wait until this replica holds the lease; the event is set if it is lost."""
        ...


class SoleLease:
    """Always held: a single process (SQLite), or replicas that all relay."""

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[asyncio.Event]:
        yield asyncio.Event()


class PostgresLease:
    """A session-level ``pg_advisory_lock`` on a connection of its own.

    PostgreSQL releases it when that session ends, so a replica that dies or loses
    its database hands over without a timeout to tune. A held lease checks its session
    every ``check_seconds``; when the check fails, the lease is lost (the relay stops
    publishing and tries to win it again).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *name: str,
        retry_seconds: float = 5.0,
        check_seconds: float = 5.0,
    ) -> None:
        self._engine = engine
        self._key = advisory_key("rapport.eventbus", *name)
        self._retry_seconds = retry_seconds
        self._check_seconds = check_seconds

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[asyncio.Event]:
        connection = await self._acquire()
        lost = asyncio.Event()
        watch = asyncio.create_task(self._watch(connection, lost))
        try:
            yield lost
        finally:
            watch.cancel()
            try:
                # Not `await watch` under suppress(CancelledError): that swallows a
                # cancel of this task landing now too, and the relay would run on.
                await asyncio.wait([watch])
            finally:
                await asyncio.shield(self._release(connection))

    async def _acquire(self) -> AsyncConnection:
        while True:
            connection = await self._engine.connect()
            try:
                # Autocommit: a session lock needs no transaction, and an idle open
                # one would hold back vacuum for as long as this replica leads.
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                if await connection.scalar(_TRY_LOCK, {"key": self._key}):
                    return connection
            except BaseException:
                await connection.invalidate()
                raise
            await connection.close()
            await asyncio.sleep(self._retry_seconds)

    async def _watch(self, connection: AsyncConnection, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                async with asyncio.timeout(self._check_seconds):
                    await connection.scalar(text("SELECT 1"))
            except Exception as exc:
                _log.warning(
                    "relay lease lost: its database session failed",
                    extra={"error_reason": type(exc).__name__},
                )
                lost.set()
                return

    async def _release(self, connection: AsyncConnection) -> None:
        try:
            await connection.scalar(_UNLOCK, {"key": self._key})
            await connection.close()
        except Exception:
            # Closing the session for good releases the lock too.
            await connection.invalidate()


def relay_lease(engine: AsyncEngine, *name: str) -> Lease:
    """PostgreSQL: one relay per log across replicas; SQLite: one process, no lease."""
    return PostgresLease(engine, *name) if is_postgres(engine) else SoleLease()
