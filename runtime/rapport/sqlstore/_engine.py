"""Async engine creation with the settings each backend needs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import _json as json_columns
from ._inline_sqlite import inline_connector
from ._threaded_sqlite import threaded_connector

# Execution option read by the SQLite "begin" hook: writers ask for IMMEDIATE.
SQLITE_BEGIN_OPTION = "rapport_sqlite_begin"

# How long a statement waits for another connection's lock before failing.
SQLITE_LOCK_WAIT_SECONDS = 10.0
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never block the writer
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",  # safe with WAL, much faster than FULL
    # Checkpoint at ~40 MB of WAL (default ~4 MB, less than one ingest batch writes):
    # a page rewritten by many commits is copied to the database once per checkpoint,
    # not once per commit (profile ingest: the commits' CPU about halved).
    "PRAGMA wal_autocheckpoint=10000",
)

_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}

# A pooled connection idle longer than this is pinged before it is handed out (the
# server may have restarted, or a proxy dropped it). One in steady use is not:
# pool_pre_ping would cost a round trip on every transaction.
PING_AFTER_IDLE_SECONDS = 2.0
_RETURNED_AT = "rapport_returned_at"


def normalise_url(url: str | URL) -> URL:
    """Rewrite sync driver names to their async counterparts."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_engine(
    url: str, *, schema: str | None = None, echo: bool = False, sqlite_in_loop: bool = False
) -> AsyncEngine:
    """Create an AsyncEngine for SQLite (SQLAlchemy's aiosqlite dialect over a worker
    thread per connection, one hop per statement: _threaded_sqlite) or PostgreSQL
    (asyncpg); JSON columns go through orjson (the json module for what it refuses).

    ``sqlite_in_loop``: SQLite statements run in the event loop's thread instead of
    the connection's worker thread (see _inline_sqlite). Each costs less CPU, but the
    loop no longer works while SQLite does: delivery's end-to-end throughput halved
    with it (its group commits shrank), so it is a service's choice, off by default."""
    sa_url = normalise_url(url)
    backend = sa_url.get_backend_name()
    options: dict[str, Any] = {
        "echo": echo,
        "json_serializer": json_columns.dumps,
        "json_deserializer": json_columns.loads,
    }
    if backend == "sqlite":
        return _sqlite_engine(sa_url, options, in_loop=sqlite_in_loop)
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema:
            # Only the service's schema: a missing schema fails loudly instead
            # of silently creating tables in public.
            connect_args["server_settings"] = {"search_path": quote_ident(schema)}
        engine = create_async_engine(sa_url, connect_args=connect_args, **options)
        _ping_when_idle(engine)
        return engine
    return create_async_engine(sa_url, **options)


def _ping_when_idle(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # new, or used moments ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as err:
            if not engine.dialect.is_disconnect(err, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # The pool discards this connection and hands out a fresh one.
            raise DisconnectionError("pooled connection was closed by the server")


def _sqlite_engine(sa_url: URL, options: dict[str, Any], *, in_loop: bool) -> AsyncEngine:
    database = sa_url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if in_loop:
        # Lock waits then sleep in the loop (_inline_sqlite): SQLite's own busy
        # timeout, which would block the loop's thread, is 0.
        args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(sa_url)
        connect = inline_connector(args, kwargs, wait_seconds=SQLITE_LOCK_WAIT_SECONDS)
        engine = create_async_engine(sa_url, async_creator=connect, **options)
        busy_timeout_ms = 0
    else:
        # Statements in a worker thread of the connection's, one hop each (_threaded_sqlite).
        args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(sa_url)
        engine = create_async_engine(
            sa_url, async_creator=threaded_connector(args, kwargs), **options
        )
        busy_timeout_ms = int(SQLITE_LOCK_WAIT_SECONDS * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): the sqlite3 driver's legacy
        # mode would skip BEGIN for SELECT and DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in (*_SQLITE_PRAGMAS, f"PRAGMA busy_timeout={busy_timeout_ms}"):
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def ensure_schema(engine: AsyncEngine, schema: str | None) -> None:
    """CREATE SCHEMA IF NOT EXISTS on PostgreSQL; no-op elsewhere."""
    if not schema or not is_postgres(engine):
        return
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"))
    except DBAPIError:
        # Two replicas starting together can race on the catalog insert; the
        # loser just needs the schema to exist now.
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema},
            )
        if not found:
            raise
