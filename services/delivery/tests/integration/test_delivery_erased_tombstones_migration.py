"""Revision 0011: messages erased before it kept their source, failure detail, channel
choice, locale, a plain payload fingerprint, and providers' text and clicked links in
their histories; it redacts them as an erasure now does (the fingerprint keyed under the
secret the service keeps using), and leaves the messages not erased as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rapport.delivery.adapters.message_rows import new_row
from rapport.delivery.adapters.tables import message_status_history, messages
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import Channel, Message, MessageContent
from rapport.delivery.service_layer.subject_requests import kept_erased_keys
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PROVIDER_TEXT = "550 5.1.1 <ada@example.com>: no such user"
SELECTION = '{"reason":"PREFERRED_CHANNEL","explanation":"","evaluations":[],"select_time":null}'
REDACTED = ("source", "failure_detail", "channel_selection", "locale")


def _row(message_id: str, *, erased: bool) -> dict[str, object]:
    message = Message.queue(
        id=message_id,
        workspace="default",
        customer_id="c1",
        purpose="marketing",
        channel=Channel.EMAIL,
        idempotency_key=f"key-{message_id}",
        content=MessageContent("Hi", ""),
        data={},
        source="import of ada@example.com",
        now=NOW,
    )
    return {
        **new_row(message),
        "failure_detail": PROVIDER_TEXT,
        "channel_selection": SELECTION,
        "locale": "pt-BR",
        "erase_time": NOW if erased else None,
    }


def _history(message_id: str) -> list[dict[str, object]]:
    return [
        {
            "message_id": message_id,
            "status": status,
            "reason": reason,
            "reporter": reporter,
            "change_time": NOW,
        }
        for status, reason, reporter in (
            ("CANCELLED", "CUSTOMER_ERASED", "delivery"),
            ("CLICKED", "https://shop.example/u/ada", "delivery"),
            ("BOUNCED", PROVIDER_TEXT, "smtp"),
        )
    ]


async def _scenario(engine: AsyncEngine, schema: str | None) -> None:
    await migrate(engine, MIGRATIONS_DIR, schema=schema, revision="0010")
    erased, kept = _row("m1", erased=True), _row("m2", erased=False)
    async with engine.begin() as conn:
        await conn.execute(messages.insert(), [erased, kept])
        await conn.execute(message_status_history.insert(), _history("m1") + _history("m2"))
    await migrate(engine, MIGRATIONS_DIR, schema=schema)
    await migrate(engine, MIGRATIONS_DIR, schema=schema)  # at every start: nothing more

    def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly)

    # What an erasure computes, with the secret revision 0010 stored.
    keyed = (await kept_erased_keys(uow_factory, NOW)).fingerprint(
        "default", str(erased["payload_fingerprint"])
    )
    async with engine.connect() as conn:
        rows = {row["id"]: row for row in (await conn.execute(select(messages))).mappings().all()}
        reasons = sorted(
            (
                await conn.execute(
                    select(message_status_history.c.message_id, message_status_history.c.reason)
                )
            ).all()
        )
    assert {column: rows["m1"][column] for column in REDACTED} == dict.fromkeys(REDACTED, "")
    assert rows["m1"]["payload_fingerprint"] == keyed
    assert {column: rows["m2"][column] for column in REDACTED} == {
        column: kept[column] for column in REDACTED
    }
    assert rows["m2"]["payload_fingerprint"] == kept["payload_fingerprint"]
    assert reasons == sorted(
        [("m1", "CUSTOMER_ERASED"), ("m1", ""), ("m1", "")]
        + [("m2", row["reason"]) for row in _history("m2")]
    )


async def test_revision_0011_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}")
    try:
        await _scenario(engine, None)
    finally:
        await engine.dispose()


async def test_revision_0011_on_postgres(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await _scenario(engine, pg_schema)
    finally:
        await engine.dispose()
