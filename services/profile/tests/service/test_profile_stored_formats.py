"""Rows stored by the first release (before the contract's `*_time` rename) read the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from rapport.profile.adapters.tables import events, signals
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import insert, select

PARENT = "workspaces/default"
CUSTOMER = "workspaces/default/customers/c0ffee"
EVENT_ID = "0123456789abcdef0123456789abcdef"
RECEIVED = datetime(2024, 3, 1, 12, 0, 30, tzinfo=UTC)
CORRECTED = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

# The document as the first release stored it: the protobuf JSON of the event
# under that contract's names, output-only fields left out, nanosecond times.
FIRST_RELEASE_DOCUMENT: dict[str, Any] = {
    "type": "EVENT_TYPE_IDENTIFY",
    "message_id": "old-1",
    "user_id": "ann",
    "identifiers": [{"type": "crm_id", "value": "c-7"}],
    "traits": {"plan": "pro", "seats": 3.0},
    "context": {"locale": "nb-NO"},
    "original_timestamp": "2024-03-01T11:59:00.123456789Z",
    "sent_at": "2024-03-01T11:59:30Z",
}


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


async def _store_first_release_rows(url: str) -> None:
    """Rows as the first release wrote them, in its schema (revision 0001): the server
    started afterwards migrates them like any existing database."""
    engine = create_engine(url)
    try:
        await migrate(engine, MIGRATIONS_DIR, revision="0001")
        async with engine.begin() as conn:
            await conn.execute(
                insert(events).values(
                    workspace="default",
                    message_id="old-1",
                    event_id=EVENT_ID,
                    customer_id="c0ffee",
                    type="identify",
                    event_name="",
                    timestamp=CORRECTED,
                    received_at=RECEIVED,
                    document=FIRST_RELEASE_DOCUMENT,
                )
            )
            await conn.execute(
                insert(signals).values(
                    workspace="default",
                    kind="event_seen",
                    customer_id="c0ffee",
                    payload={
                        "event_id": EVENT_ID,
                        "message_id": "old-1",
                        "type": "identify",
                        "event_name": "",
                        "timestamp": CORRECTED.isoformat(),
                        "received_at": RECEIVED.isoformat(),
                        "seq": 1,
                        "document": FIRST_RELEASE_DOCUMENT,
                    },
                    create_time=RECEIVED,
                )
            )
    finally:
        await engine.dispose()


def _assert_first_release_event(event: pb.Event) -> None:
    assert event.name == f"{CUSTOMER}/events/{EVENT_ID}" and event.customer == CUSTOMER
    assert event.type == pb.EVENT_TYPE_IDENTIFY and event.message_id == "old-1"
    assert event.user_id == "ann"
    assert [(i.type, i.value) for i in event.identifiers] == [("crm_id", "c-7")]
    assert dict(event.traits) == {"plan": "pro", "seats": 3.0}
    assert event.context["locale"] == "nb-NO"
    # Microseconds kept; digits past them are not.
    assert event.original_time == Timestamp(seconds=stamp(CORRECTED).seconds - 60, nanos=123456000)
    assert event.sent_time == stamp(datetime(2024, 3, 1, 11, 59, 30, tzinfo=UTC))
    assert event.receive_time == stamp(RECEIVED)
    assert event.event_time == stamp(CORRECTED)


async def test_first_release_rows_read_through_every_method(
    profile_server: Any, tmp_path: Path
) -> None:
    await _store_first_release_rows(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    # The row was received in 2024: a window reaching back that far keeps it a duplicate.
    async with profile_server(dedup_window=timedelta(days=3650)) as (stub, running):
        got = await stub.GetEvent(pb.GetEventRequest(name=f"{CUSTOMER}/events/{EVENT_ID}"))
        _assert_first_release_event(got)
        [listed] = (await stub.ListEvents(pb.ListEventsRequest(parent=CUSTOMER))).events
        assert listed == got

        call = stub.WatchSignals(pb.WatchSignalsRequest(parent=PARENT))
        try:
            async with asyncio.timeout(5):
                response = await call.read()
        finally:
            call.cancel()
        assert response.signal.kind == pb.SIGNAL_KIND_EVENT_SEEN
        assert response.signal.event_seen.event == got

        # A replay of the old event is a duplicate attributed to its customer.
        replay = await stub.IngestEvents(
            pb.IngestEventsRequest(
                parent=PARENT,
                events=[pb.Event(type=pb.EVENT_TYPE_IDENTIFY, message_id="old-1", user_id="ann")],
            )
        )
        assert replay.results[0].status == pb.INGEST_STATUS_DUPLICATE
        assert replay.results[0].customer == CUSTOMER


async def test_new_rows_keep_the_first_release_document_keys(
    profile_server: Any, event_factory: Any, tmp_path: Path
) -> None:
    # Replicas of the first release read the same rows during a rolling upgrade.
    async with profile_server() as (stub, _):
        await stub.IngestEvents(
            pb.IngestEventsRequest(
                parent=PARENT,
                events=[
                    event_factory(
                        "new-1",
                        original_time=stamp(datetime(2024, 3, 1, 11, 59, tzinfo=UTC)),
                        sent_time=stamp(datetime(2024, 3, 1, 11, 59, 30, tzinfo=UTC)),
                    )
                ],
            )
        )
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
        try:
            async with engine.connect() as conn:
                document = (await conn.execute(select(events.c.document))).scalar_one()
                payload = (await conn.execute(select(signals.c.payload))).scalar_one()
        finally:
            await engine.dispose()
    assert document["message_id"] == "new-1"
    assert document["original_timestamp"] == "2024-03-01T11:59:00.000000Z"
    assert document["sent_at"] == "2024-03-01T11:59:30.000000Z"
    assert {"timestamp", "received_at", "event_name", "document"} <= set(payload)
    assert payload["document"] == document
