"""The hand-written Alembic migrations create exactly the tables of tables.py."""

from __future__ import annotations

from pathlib import Path

from rapport.identity.adapters.tables import metadata
from rapport.identity.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate, schema_differences
from sqlalchemy.ext.asyncio import AsyncEngine


async def _differences(engine: AsyncEngine, schema: str | None) -> list:
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=schema)
        await migrate(engine, MIGRATIONS_DIR, schema=schema)  # idempotent at start-up
        return await schema_differences(engine, metadata)
    finally:
        await engine.dispose()


async def test_migrations_match_the_tables_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}")
    assert await _differences(engine, None) == []


async def test_migrations_match_the_tables_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    assert await _differences(engine, pg_schema) == []
