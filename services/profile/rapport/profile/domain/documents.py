"""The stored document of an event: what its sender sent, as plain JSON.

Stored with every event (and in every event-seen signal) so that nothing the
sender sent (properties, context...) is lost. The keys are those of the
documents the first release wrote, the protobuf JSON names of that contract
(`original_timestamp`, `sent_at`): rows written before and after the
contract's `*_time` rename read the same, and replicas of either release read
each other's rows during a rolling upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .model import EventType, Identifier, IncomingEvent

_STRINGS = ("user_id", "anonymous_id", "event", "previous_id", "group_id")
_OBJECTS = ("properties", "traits", "context")
ORIGINAL_TIME_KEY = "original_timestamp"
SENT_TIME_KEY = "sent_at"


def event_document(event: IncomingEvent) -> dict[str, Any]:
    """The document stored for an event; empty fields are left out."""
    document: dict[str, Any] = {"message_id": event.message_id}
    for key in _STRINGS:
        if value := getattr(event, key):
            document[key] = value
    if event.identifiers:
        document["identifiers"] = [{"type": i.type, "value": i.value} for i in event.identifiers]
    for key in _OBJECTS:
        if (value := getattr(event, key)) is not None:
            document[key] = value
    if event.original_time is not None:
        document[ORIGINAL_TIME_KEY] = format_time(event.original_time)
    if event.sent_time is not None:
        document[SENT_TIME_KEY] = format_time(event.sent_time)
    return document


def event_from_document(
    document: Mapping[str, Any], *, type: EventType, message_id: str
) -> IncomingEvent:
    """The event a document was made of. ``type`` and ``message_id`` come from the
    row (documents of the first release hold the type as a protobuf enum name)."""
    objects = {key: document.get(key) for key in _OBJECTS}
    return IncomingEvent(
        type=type,
        message_id=message_id,
        identifiers=tuple(
            Identifier(str(i.get("type", "")), str(i.get("value", "")))
            for i in document.get("identifiers", ())
        ),
        original_time=_time(document.get(ORIGINAL_TIME_KEY)),
        sent_time=_time(document.get(SENT_TIME_KEY)),
        **{key: str(document.get(key, "")) for key in _STRINGS},
        **{key: dict(value) if value is not None else None for key, value in objects.items()},
    )


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as protobuf JSON writes timestamps (always with
    microseconds: the text isoformat(timespec="microseconds") gives, made quicker)."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return _RFC3339 % (
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond,
    )


_RFC3339 = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def parse_time(text: str) -> datetime:
    """RFC 3339 (any offset, up to nanoseconds: digits past microseconds are dropped)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) and value else None
