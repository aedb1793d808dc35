"""Computed trait buckets merged by PostgreSQL as by Python (see the SQLite test)."""

from __future__ import annotations

from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate

from ..service.test_profile_bucket_merge import check_database_merge


async def test_postgres_merges_buckets_as_python_does(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=pg_schema)
        await check_database_merge(engine)
    finally:
        await engine.dispose()
