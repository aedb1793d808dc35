"""Signal payloads: what the durable log keeps for each kind (plain JSON).

The keys are those the first release wrote (`timestamp`, `received_at`), so the
log reads the same across releases; they hold the event time and receive time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .documents import event_document, event_from_document
from .model import (
    EventType,
    Signal,
    SignalKind,
    SignalRecord,
    StoredEvent,
    TraitChange,
    TraitSource,
    WatchedSignal,
)


def decode_signal(record: SignalRecord) -> WatchedSignal:
    """The signal of a stored row, with its detail.

    Raises (ValueError, KeyError, TypeError...) for a row that cannot be decoded:
    a kind this release does not know, a payload that is not the JSON it wrote.
    """
    kind = SignalKind(record.kind)
    payload = json.loads(record.payload)
    if not isinstance(payload, dict):
        raise TypeError(f"the payload is a JSON {type(payload).__name__}, not an object")
    signal = Signal(record.seq, record.workspace, kind, record.customer_id, record.create_time)
    if kind is SignalKind.EVENT_SEEN:
        event = event_from_payload(payload, record.workspace, record.customer_id)
        return WatchedSignal(signal, event=event)
    if kind is SignalKind.TRAIT_CHANGED:
        return WatchedSignal(signal, trait_change=trait_change_from_payload(payload))
    if kind in (SignalKind.SEGMENT_ENTERED, SignalKind.SEGMENT_EXITED):
        return WatchedSignal(signal, segment_id=str(payload["segment"]))
    if kind is SignalKind.LIFE_STAGE_CHANGED:
        change = (str(payload["old_stage"]), str(payload["new_stage"]))
        return WatchedSignal(signal, life_stage_change=change)
    return WatchedSignal(signal)


def event_seen_payload(
    event: StoredEvent,
    document: dict[str, Any] | None = None,
    *,
    seq: int | None = None,
    received_at: str | None = None,
) -> dict[str, Any]:
    """``document``: the event's document when the caller already made it; ``seq``:
    the event's when known only since ``event`` was made; ``received_at``: its receive
    time formatted (once for a batch's events)."""
    return {
        "event_id": event.event_id,
        "message_id": event.message_id,
        "type": event.type.value,
        "event_name": event.event_name,
        "timestamp": event.event_time.isoformat(),
        "received_at": event.receive_time.isoformat() if received_at is None else received_at,
        "seq": event.seq if seq is None else seq,
        "document": document if document is not None else event_document(event.sent),
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
    if change.removed:
        payload["removed"] = True
    if source := source_document(change.source):
        payload["source"] = source
    return payload


def trait_change_from_payload(payload: dict[str, Any]) -> TraitChange:
    return TraitChange(
        key=payload["key"],
        new_value=payload["new_value"],
        source_message_id=payload["source_message_id"],
        had_old_value="old_value" in payload,
        old_value=payload.get("old_value"),
        removed=bool(payload.get("removed", False)),
        source=source_from_document(payload.get("source") or {}),
    )


def source_document(source: TraitSource) -> dict[str, str]:
    """A trait source as plain JSON; empty parts left out."""
    document = {
        "event_type": source.event_type.value if source.event_type is not None else "",
        "library_name": source.library_name,
        "library_version": source.library_version,
        "method": source.method,
    }
    return {key: value for key, value in document.items() if value}


def source_from_document(document: dict[str, Any]) -> TraitSource:
    event_type = document.get("event_type")
    return TraitSource(
        event_type=EventType(event_type) if event_type else None,
        library_name=str(document.get("library_name", "")),
        library_version=str(document.get("library_version", "")),
        method=str(document.get("method", "")),
    )


def segment_payload(segment_id: str) -> dict[str, Any]:
    """SEGMENT_ENTERED / SEGMENT_EXITED: the segment's id."""
    return {"segment": segment_id}


def life_stage_payload(old_stage: str, new_stage: str) -> dict[str, Any]:
    return {"old_stage": old_stage, "new_stage": new_stage}
