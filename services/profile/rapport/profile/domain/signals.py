"""Signal payloads: what the durable log keeps for each kind (plain JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .model import EventType, StoredEvent, TraitChange


def event_seen_payload(event: StoredEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "message_id": event.message_id,
        "type": event.type.value,
        "event_name": event.event_name,
        "timestamp": event.timestamp.isoformat(),
        "received_at": event.received_at.isoformat(),
        "seq": event.seq,
        "document": event.document,
    }


def event_from_payload(payload: dict[str, Any], workspace: str, customer_id: str) -> StoredEvent:
    return StoredEvent(
        event_id=payload["event_id"],
        workspace=workspace,
        customer_id=customer_id,
        message_id=payload["message_id"],
        type=EventType(payload["type"]),
        event_name=payload["event_name"],
        timestamp=datetime.fromisoformat(payload["timestamp"]),
        received_at=datetime.fromisoformat(payload["received_at"]),
        document=payload["document"],
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
