"""The migrations create exactly the tables of tables.py; messages accepted before 0002
and 0004 keep answering replays of their key (0004 moves the keys to their own table);
messages opened or clicked before 0007 have those counted."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rapport.delivery.adapters.tables import message_status_history, metadata
from rapport.delivery.adapters.tables import messages as messages_table
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import Channel, MessageContent, RetryPolicy
from rapport.delivery.service_layer import commands, messages
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.errors import FailedPrecondition
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate, schema_differences
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from .._delivery_support import FakeEmailProvider, InMemoryConsentClient, InMemoryProfileClient

NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def _upgrade_to(engine: AsyncEngine, revision: str, schema: str | None) -> None:
    await migrate(engine, MIGRATIONS_DIR, schema=schema, revision=revision)


def _old_row(message_id: str, key: str, text_body: str) -> dict[str, object]:
    return {
        "id": message_id,
        "workspace": "default",
        "customer_id": "c1",
        "purpose": "marketing",
        "channel": "EMAIL",
        "idempotency_key": key,
        # Revision 0001's form: the hash of the serialised request, which nothing recomputes.
        "payload_fingerprint": hashlib.sha256(f"request {key}".encode()).hexdigest(),
        "subject": "Hi",
        "text_body": text_body,
        "html_body": "",
        "data": '{"n":1,"nested":{"x":[1,2.5]}}',
        "source": "workspaces/default/triggers/t",
        "state": "SENT",
        "attempt_count": 1,
        "provider": "smtp",
        "provider_message_id": "<1@x>",
        "failure_reason": "",
        "create_time": NOW,
        "update_time": NOW,
        "send_time": NOW,
        "next_attempt_time": NOW,
        "lease_token": None,
        "lease_expire_time": None,
    }


async def _scenario(engine: AsyncEngine, schema: str | None) -> None:
    await _upgrade_to(engine, "0001", schema)
    async with engine.begin() as conn:
        # More rows than one batch of the revision would need, in no particular id order.
        await conn.execute(
            messages_table.insert(),
            [_old_row(f"m{i:04d}", f"key-{i}", f"Body {i}") for i in reversed(range(1500))],
        )
    await migrate(engine, MIGRATIONS_DIR, schema=schema)

    def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly)

    deps = Dependencies(
        uow_factory=uow_factory,
        workspaces=frozenset({"default"}),
        profiles=InMemoryProfileClient(),
        consents=InMemoryConsentClient(),
        providers={Channel.EMAIL: [FakeEmailProvider()]},
        retry_policy=RetryPolicy(),
        page_tokens=PageTokens(None),
    )

    def replay(i: int, text_body: str) -> commands.SendMessage:
        return commands.SendMessage(
            parent="workspaces/default",
            idempotency_key=f"key-{i}",
            customer="workspaces/default/customers/c1",
            purpose="marketing",
            channel=Channel.EMAIL,
            content=MessageContent("Hi", text_body),
            data={"nested": {"x": [1, 2.5]}, "n": 1},
            source="workspaces/default/triggers/t",
        )

    for i in (0, 999, 1000, 1499):
        again = await messages.send_message(replay(i, f"Body {i}"), deps)
        assert again.name == f"workspaces/default/messages/m{i:04d}"
    with pytest.raises(FailedPrecondition) as caught:
        await messages.send_message(replay(7, "Another body"), deps)
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert not deps.dispatch_wakeup.is_set()  # nothing new was queued


async def test_revision_0002_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}")
    try:
        await _scenario(engine, None)
    finally:
        await engine.dispose()


async def test_revision_0002_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await _scenario(engine, pg_schema)
    finally:
        await engine.dispose()


async def _differences(engine: AsyncEngine, schema: str | None) -> list:
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=schema)
        await migrate(engine, MIGRATIONS_DIR, schema=schema)  # idempotent at start-up
        return await schema_differences(engine, metadata)
    finally:
        await engine.dispose()


def _not_an_empty_default(difference: object) -> bool:
    # Alembic reads SQLite's DEFAULT '' back as a text clause it cannot compare with ''
    # (true of the columns before 0004 too): those are the same default.
    return not (
        isinstance(difference, list)
        and difference
        and difference[0][0] == "modify_default"
        and getattr(difference[0][-1].arg, "text", difference[0][-1].arg) == ""
    )


async def test_migrations_match_the_tables_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}")
    assert list(filter(_not_an_empty_default, await _differences(engine, None))) == []


async def test_migrations_match_the_tables_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    assert await _differences(engine, pg_schema) == []


async def _counts_scenario(engine: AsyncEngine, schema: str | None) -> dict[str, tuple[int, int]]:
    await _upgrade_to(engine, "0006", schema)
    async with engine.begin() as conn:
        await conn.execute(
            messages_table.insert(), [_old_row(m, f"key-{m}", "Body") for m in ("m1", "m2", "m3")]
        )
        await conn.execute(
            message_status_history.insert(),
            [
                {"message_id": m, "status": s, "reason": "", "reporter": "smtp", "change_time": NOW}
                for m, s in [("m1", "SENT"), ("m1", "OPENED"), ("m2", "OPENED"), ("m2", "CLICKED")]
            ],
        )
    await migrate(engine, MIGRATIONS_DIR, schema=schema)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(messages_table.c.id, messages_table.c.open_count, messages_table.c.click_count)
        )
        return {m: (opens, clicks) for m, opens, clicks in rows}


COUNTED = {"m1": (1, 0), "m2": (1, 1), "m3": (0, 0)}


async def test_revision_0007_counts_opens_and_clicks_already_recorded_on_sqlite(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}")
    try:
        assert await _counts_scenario(engine, None) == COUNTED
    finally:
        await engine.dispose()


async def test_revision_0007_counts_opens_and_clicks_already_recorded_on_postgres(
    postgres_url: str, pg_schema: str
) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        assert await _counts_scenario(engine, pg_schema) == COUNTED
    finally:
        await engine.dispose()
