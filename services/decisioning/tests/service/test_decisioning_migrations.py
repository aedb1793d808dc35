"""The hand-written Alembic migrations create exactly the tables of tables.py, and 0002
keeps the decisions stored before it readable."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from rapport.decisioning.adapters.tables import metadata
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate, schema_differences
from rapport.type.v1 import channel_pb2
from sqlalchemy.ext.asyncio import AsyncEngine


async def _differences(engine: AsyncEngine, schema: str | None) -> list:
    try:
        await migrate(engine, MIGRATIONS, schema=schema)
        await migrate(engine, MIGRATIONS, schema=schema)  # idempotent at start-up
        return await schema_differences(engine, metadata)
    finally:
        await engine.dispose()


async def test_migrations_match_the_tables_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'decisioning.db'}")
    assert await _differences(engine, None) == []


async def test_migrations_match_the_tables_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    assert await _differences(engine, pg_schema) == []


async def _upgrade_to(engine: AsyncEngine, revision: str) -> None:
    await migrate(engine, MIGRATIONS, revision=revision)


OLD_ACTIONS = (
    '[{"action": "workspaces/default/actions/offer", "rank": 1, "priority": 50.0,'
    ' "propensity": 0.5, "context_weight": 1.0, "value": 100.0, "lever": 1.0,'
    ' "probability": 1.0, "channel": "email"}]'
)


async def test_decisions_stored_before_0002_read_back(serve, make_settings) -> None:
    settings = make_settings()
    engine = create_engine(settings.database_url_or_default())
    try:
        await _upgrade_to(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO decisions (decision_id, workspace, customer, actions, create_time)"
                    " VALUES (:id, 'default', :customer, :actions, '2025-03-01 10:00:00.000000')"
                ),
                {
                    "id": "a" * 32,
                    "customer": "workspaces/default/customers/alice",
                    "actions": OLD_ACTIONS,
                },
            )
    finally:
        await engine.dispose()

    async with serve(settings) as stub:  # migrates to head at start-up
        name = "workspaces/default/decisions/" + "a" * 32
        decision = await stub.GetDecision(pb.GetDecisionRequest(name=name))
        listed = await stub.ListDecisions(pb.ListDecisionsRequest(parent="workspaces/default"))

    assert decision.customer == "workspaces/default/customers/alice"
    assert [(a.action, a.rank, a.channel) for a in decision.actions] == [
        ("workspaces/default/actions/offer", 1, channel_pb2.CHANNEL_EMAIL)
    ]
    assert decision.actions[0].score == pb.ScoreParts(
        propensity=0.5, context_weight=1.0, value=100.0, lever=1.0
    )
    assert decision.actions[0].explanation == ""
    assert list(decision.excluded_actions) == []
    assert decision.channel == channel_pb2.CHANNEL_UNSPECIFIED
    assert decision.source == ""
    assert decision.create_time.ToJsonString() == "2025-03-01T10:00:00Z"
    assert [d.name for d in listed.decisions] == [name]
