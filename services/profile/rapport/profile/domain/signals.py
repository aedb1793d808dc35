"""Signal payloads: what the durable log keeps for each kind (plain JSON).

The keys are those the first release wrote (`timestamp`, `received_at`), so the
log reads the same across releases; they hold the event time and receive time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .documents import event_document, event_from_document
from .model import EventType, StoredEvent, TraitChange


def event_seen_payload(event: StoredEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "message_id": event.message_id,
        "type": event.type.value,
        "event_name": event.event_name,
        "timestamp": event.event_time.isoformat(),
        "received_at": event.receive_time.isoformat(),
        "seq": event.seq,
        "document": event_document(event.sent),
    }


def event_from_payload(payload: dict[str, Any], workspace: str, customer_id: str) -> StoredEvent:
    """The stored event of an event-seen signal; the signal's customer is the event's."""
    event_type = EventType(payload["type"])
    return StoredEvent(
        event_id=payload["event_id"],
        workspace=workspace,
        customer_id=customer_id,
        type=event_type,
        event_time=datetime.fromisoformat(payload["timestamp"]),
        receive_time=datetime.fromisoformat(payload["received_at"]),
        sent=event_from_document(
            payload["document"], type=event_type, message_id=payload["message_id"]
        ),
        seq=int(payload.get("seq", 0)),
    )


def trait_changed_payload(change: TraitChange) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "key": change.key,
        "new_value": change.new_value,
        "source_message_id": change.source_message_id,
    }
    if change.had_old_value:
        payload["old_value"] = change.old_value
    return payload


def trait_change_from_payload(payload: dict[str, Any]) -> TraitChange:
    return TraitChange(
        key=payload["key"],
        new_value=payload["new_value"],
        source_message_id=payload["source_message_id"],
        had_old_value="old_value" in payload,
        old_value=payload.get("old_value"),
    )
