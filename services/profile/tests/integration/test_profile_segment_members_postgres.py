"""Segment members written in bulk on PostgreSQL (see the SQLite test)."""

from __future__ import annotations

from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate

from ..service.test_profile_segment_members_write import check_members_written


async def test_postgres_adds_members_once(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=pg_schema)
        await check_members_written(engine)
    finally:
        await engine.dispose()
