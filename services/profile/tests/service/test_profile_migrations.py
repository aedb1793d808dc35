"""The hand-written migration creates exactly the tables of tables.py."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from rapport.profile.adapters.tables import metadata
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate


async def test_migration_matches_the_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    try:
        await migrate(engine, MIGRATIONS_DIR)
        await migrate(engine, MIGRATIONS_DIR)  # idempotent at start-up
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []
