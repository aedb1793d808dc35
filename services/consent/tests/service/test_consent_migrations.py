"""The hand-written Alembic migrations create exactly the tables of tables.py, and 0004
gives the data subject requests stored before it the customer rows listing reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from rapport.consent.adapters.tables import data_subject_request_customers, metadata
from rapport.consent.bootstrap import MIGRATIONS_DIR
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate, schema_differences
from sqlalchemy.ext.asyncio import AsyncEngine

from .._consent_support import START, FakeClock, consent_stub


async def _differences(engine: AsyncEngine, schema: str | None) -> list:
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=schema)
        await migrate(engine, MIGRATIONS_DIR, schema=schema)  # idempotent at start-up
        return await schema_differences(engine, metadata)
    finally:
        await engine.dispose()


async def test_migrations_match_the_tables_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'consent.db'}")
    assert await _differences(engine, None) == []


async def test_migrations_match_the_tables_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    assert await _differences(engine, pg_schema) == []


_OLD_REQUESTS = sa.table(
    "consent_data_subject_requests",
    *(
        sa.column(name, kind)
        for name, kind in [
            ("id", sa.String),
            ("workspace", sa.String),
            ("customer_id", sa.String),
            ("type", sa.String),
            ("block_identifiers", sa.Boolean),
            ("state", sa.String),
            ("create_time", sa.DateTime(timezone=True)),
            ("covered_customer_ids", sa.Text),
        ]
    ),
)


async def _store_0003_requests(engine: AsyncEngine, schema: str | None = None) -> None:
    """Requests as 0003 stored them: one for c1 that covered c1 and c0 (c1 merged into
    c0), one before identity's step, one whose covered ids a newer version wrote."""
    await migrate(engine, MIGRATIONS_DIR, schema=schema, revision="0003")
    rows = [("r1", "c1", '["c0", "c1"]'), ("r2", "c1", None), ("r3", "c2", '{"future": 1}')]
    async with engine.begin() as conn:
        await conn.execute(
            _OLD_REQUESTS.insert(),
            [
                {
                    "id": request_id,
                    "workspace": "default",
                    "customer_id": customer,
                    "type": "erasure",
                    "block_identifiers": False,
                    "state": "succeeded",
                    "create_time": START + timedelta(seconds=i),
                    "covered_customer_ids": covered,
                }
                for i, (request_id, customer, covered) in enumerate(rows)
            ],
        )


async def _listed(settings: ConsentSettings, customer: str) -> list[str]:
    async with consent_stub(settings, FakeClock()) as stub:
        listed = await stub.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(
                parent="workspaces/default", customer=f"workspaces/default/customers/{customer}"
            )
        )
    return [r.name.rsplit("/", 1)[1] for r in listed.data_subject_requests]


async def _filled_in_at_start_up(settings: ConsentSettings) -> None:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        await _store_0003_requests(engine, settings.database_schema)
    finally:
        await engine.dispose()
    # The server migrates to the head at start-up.
    assert await _listed(settings, "c0") == ["r1"]
    assert await _listed(settings, "c1") == ["r2", "r1"]
    # Covered ids it cannot read: its customer alone (List leaves the request out).
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(data_subject_request_customers.c.customer_id).where(
                    data_subject_request_customers.c.request_id == "r3"
                )
            )
            assert [row.customer_id for row in rows] == ["c2"]
    finally:
        await engine.dispose()


async def test_requests_stored_before_0004_are_found_under_every_id_they_covered(
    sqlite_settings: ConsentSettings,
) -> None:
    await _filled_in_at_start_up(sqlite_settings)


async def test_requests_stored_before_0004_are_found_on_postgres(
    postgres_url: str, pg_schema: str
) -> None:
    await _filled_in_at_start_up(
        ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    )
