"""Revision 0010: messages erased before it held their raw idempotency key; it replaces
each (in the message and in the keys in force) by the digest an erasure now stores, under
the secret the service then keeps using, and leaves the keys of messages not erased."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rapport.delivery.adapters.message_rows import new_row
from rapport.delivery.adapters.tables import idempotency_keys, messages
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import Channel, Message, MessageContent
from rapport.delivery.service_layer.subject_requests import kept_erased_keys
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2030, 1, 1, tzinfo=UTC)
RAW_KEY = "receipt-ada@example.com-2026-12"


def _row(message_id: str, key: str, *, erased: bool) -> dict[str, object]:
    message = Message.queue(
        id=message_id,
        workspace="default",
        customer_id="c1",
        purpose="marketing",
        channel=Channel.EMAIL,
        idempotency_key=key,
        content=MessageContent("" if erased else "Hi", ""),
        data={},
        source="",
        now=NOW,
    )
    return {**new_row(message), "erase_time": NOW if erased else None}


async def _scenario(engine: AsyncEngine, schema: str | None) -> None:
    await migrate(engine, MIGRATIONS_DIR, schema=schema, revision="0009")
    async with engine.begin() as conn:
        await conn.execute(
            messages.insert(),
            [_row("m1", RAW_KEY, erased=True), _row("m2", "kept-key", erased=False)],
        )
        await conn.execute(
            idempotency_keys.insert(),
            [
                {"workspace": "default", "idempotency_key": k, "message_id": m, "create_time": NOW}
                for m, k in (("m1", RAW_KEY), ("m2", "kept-key"))
            ],
        )
    await migrate(engine, MIGRATIONS_DIR, schema=schema)
    await migrate(engine, MIGRATIONS_DIR, schema=schema)  # at every start: nothing more

    def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly)

    # What the service computes, with the secret the migration stored.
    digest = (await kept_erased_keys(uow_factory, NOW)).digest("default", RAW_KEY)
    async with engine.connect() as conn:
        in_messages = dict(
            (await conn.execute(select(messages.c.id, messages.c.idempotency_key))).all()
        )
        in_force = dict(
            (
                await conn.execute(
                    select(idempotency_keys.c.message_id, idempotency_keys.c.idempotency_key)
                )
            ).all()
        )
    assert in_messages == {"m1": digest, "m2": "kept-key"}
    assert in_force == {"m1": digest, "m2": "kept-key"}


async def test_revision_0010_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}")
    try:
        await _scenario(engine, None)
    finally:
        await engine.dispose()


async def test_revision_0010_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await _scenario(engine, pg_schema)
    finally:
        await engine.dispose()
