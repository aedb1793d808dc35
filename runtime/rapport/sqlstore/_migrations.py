"""Alembic upgrades run programmatically at service start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ._engine import create_engine, ensure_schema
from ._locks import advisory_key, advisory_xact_locks


async def migrate(
    engine: AsyncEngine,
    migrations_dir: Path | str,
    *,
    schema: str | None = None,
    revision: str = "head",
) -> None:
    """``alembic upgrade <revision>`` (head unless told) for ``migrations_dir`` on ``engine``.

    On PostgreSQL the upgrade holds a transaction-scoped advisory lock so that
    replicas starting together apply each revision once. An earlier revision is
    for tests of a migration: data written the old way, then upgraded.
    """
    await ensure_schema(engine, schema)
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = schema

    def upgrade(sync_connection: Connection) -> None:
        config.attributes["connection"] = sync_connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await advisory_xact_locks(conn, [advisory_key("rapport.sqlstore", "migrate", schema or "")])
        await conn.run_sync(upgrade)


async def schema_differences(engine: AsyncEngine, metadata: MetaData) -> list[Any]:
    """What differs between the database and ``metadata`` (Alembic's autogenerate
    comparison, types and server defaults included): empty when the migrations
    create exactly the tables the code declares."""

    def compare(sync_connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            sync_connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_schemas": False,
                "include_name": lambda name, type_, _parent: (
                    type_ != "table" or name != "alembic_version"
                ),
            },
        )
        return compare_metadata(context, metadata)

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


def run_alembic_env(target_metadata: Any) -> None:
    """The body of every service's ``migrations/env.py``.

    With a connection handed over by :func:`migrate` (``config.attributes``),
    migrates on it. Otherwise (the ``alembic`` CLI, e.g. ``revision
    --autogenerate``) uses ``-x url=...`` or the ``sqlalchemy.url`` option,
    online, or offline when ``--sql`` was given.
    """
    from alembic import context

    config = context.config
    schema: str | None = config.attributes.get("schema")
    connection: Connection | None = config.attributes.get("connection")

    def configure_and_run(conn: Connection) -> None:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            version_table_schema=schema,
            render_as_batch=conn.dialect.name == "sqlite",  # SQLite needs batch ALTERs
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if connection is not None:
        configure_and_run(connection)
        return

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no connection: pass -x url=... or set sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            version_table_schema=schema,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    async def online() -> None:
        engine = create_engine(url, schema=schema)
        try:
            await ensure_schema(engine, schema)
            async with engine.begin() as conn:
                await conn.run_sync(configure_and_run)
        finally:
            await engine.dispose()

    asyncio.run(online())
