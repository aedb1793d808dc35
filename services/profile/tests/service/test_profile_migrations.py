"""The hand-written migration creates exactly the tables of tables.py."""

from __future__ import annotations

from pathlib import Path

from rapport.profile.adapters.tables import metadata
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate, schema_differences


async def test_migration_matches_the_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    try:
        await migrate(engine, MIGRATIONS_DIR)
        await migrate(engine, MIGRATIONS_DIR)  # idempotent at start-up
        diff = await schema_differences(engine, metadata)
    finally:
        await engine.dispose()
    assert diff == []
