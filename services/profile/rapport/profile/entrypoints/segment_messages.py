"""Segment's JSON messages as the use case's IncomingEvents (straight from JSON: no
protobuf round trip), and the use case's field paths back in the sender's words.

A message is checked as IngestEvents checks an Event: a value the profile cannot keep
(NaN, Infinity, a number out of range, nesting too deep) rejects the message alone,
named by its exact path (``batch[0].traits.score``). The use case names fields as
IngestEvents does (``events[0].user_id``); ``segment_field`` turns such a path into
the JSON name the sender used (``batch[0].userId``), for the collector's answers and
logs.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rapport.errors import InvalidArgument
from rapport.profile.domain.ingestion import IngestLimits, rejection
from rapport.profile.domain.model import (
    EventType,
    IncomingEvent,
    RejectedEvent,
    RejectionReason,
)

TYPES = {kind.value: kind for kind in EventType}
# Clipped in paths, as IngestEvents clips them (a path travels in logs and answers).
_MAX_KEY_IN_PATH = 64
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USE_CASE_PATH = re.compile(r"events\[\d+\](.*)", re.DOTALL)
_FIRST_FIELD = re.compile(r"\.([a-z_]+)(.*)", re.DOTALL)
# Those names where a description mentions them.
_NAMES_IN_TEXT = re.compile(
    r"\b(?:(?:message|user|anonymous|previous|group)_id|(?:original|sent)_time)\b"
)
# The use case's (IngestEvents') field names -> Segment's JSON names.
_SEGMENT_NAMES = {
    "message_id": "messageId",
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "previous_id": "previousId",
    "group_id": "groupId",
    "sent_time": "sentAt",
}


class BadEvent(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


def at(path: str, name: str) -> str:
    """``name`` inside the message at ``path`` ("" for the body of a single-event route)."""
    return f"{path}.{name}" if path else name


def decode(
    item: Any, path: str, shared: Mapping[str, Any], limits: IngestLimits
) -> IncomingEvent | RejectedEvent:
    """One Segment message as the use case's IncomingEvent, or rejected alone with the
    field and why."""
    message_id = ""
    try:
        if not isinstance(item, dict):
            raise BadEvent(path, "must be an object")
        message_id = _id(item.get("messageId"), at(path, "messageId")) or uuid.uuid4().hex
        if len(json.dumps(item, ensure_ascii=False).encode()) > limits.max_event_bytes:
            err = InvalidArgument(path, f"is larger than {limits.max_event_bytes} bytes")
            return RejectedEvent(message_id, rejection(err, RejectionReason.EVENT_TOO_LARGE))
        return _event(item, path, shared, message_id, limits.max_struct_depth)
    except BadEvent as bad:
        err = InvalidArgument(bad.field, bad.description)
        return RejectedEvent(message_id, rejection(err, RejectionReason.INVALID_FIELD))


def segment_field(field: str, path: str, item: Any, event_type: EventType | None) -> str:
    """A field the use case named (``events[i].user_id``) as the sender named it
    (``batch[3].userId``; ``userId`` on a single-event route, whose ``path`` is "").
    Fields the collector named itself are already the sender's and come back as they are."""
    match = _USE_CASE_PATH.fullmatch(field)
    if match is None:
        return field
    rest = match[1]
    first = _FIRST_FIELD.fullmatch(rest)
    if first is not None:
        name, tail = first[1], first[2]
        if name == "event" and event_type in (EventType.PAGE, EventType.SCREEN):
            name = "name"
        else:
            name = _segment_name(name, item)
        rest = f".{name}{tail}"
    return path + rest if path else rest.removeprefix(".")


def segment_description(description: str, item: Any) -> str:
    """A description of the use case with the fields it mentions (``user_id``,
    ``original_time``...) as the sender named them (``userId``, ``timestamp``...)."""
    return _NAMES_IN_TEXT.sub(lambda m: _segment_name(m[0], item), description)


def _segment_name(name: str, item: Any) -> str:
    if name == "original_time":
        sent_original = isinstance(item, dict) and item.get("originalTimestamp") is not None
        return "originalTimestamp" if sent_original else "timestamp"
    return _SEGMENT_NAMES.get(name, name)


def _event(
    item: dict[str, Any], path: str, shared: Mapping[str, Any], message_id: str, depth: int
) -> IncomingEvent:
    kind = item.get("type")
    if not isinstance(kind, str) or kind.lower() not in TYPES:
        raise BadEvent(at(path, "type"), "must be identify, track, page, screen, group or alias")
    kind = kind.lower()
    name_field = "event" if kind == "track" else "name"
    name = _text(item.get(name_field), at(path, name_field))
    properties = _struct(item.get("properties"), at(path, "properties"), depth)
    if kind in ("page", "screen"):
        # Segment's page and screen calls carry a category beside the name; the Event
        # has no field for it, so it is kept where Segment's own libraries also put it:
        # properties.category (the call's category wins, as in analytics.js).
        category = _text(item.get("category"), at(path, "category"))
        if category:
            properties = {**(properties or {}), "category": category}
            name = name or category
    context = _object(item.get("context"), at(path, "context"))
    batch_context = _object(shared.get("context"), "context")
    if batch_context:
        context = {**batch_context, **(context or {})}
    original_time = sent_time = None
    if (original := item.get("originalTimestamp")) is not None:
        original_time = _time(original, at(path, "originalTimestamp"))
        if (sent := item.get("sentAt", shared.get("sentAt"))) is not None:
            sent_time = _time(sent, at(path, "sentAt"))
    elif item.get("timestamp") is not None:
        original_time = _time(item["timestamp"], at(path, "timestamp"))
    return IncomingEvent(
        type=TYPES[kind],
        message_id=message_id,
        user_id=_id(item.get("userId"), at(path, "userId")),
        anonymous_id=_id(item.get("anonymousId"), at(path, "anonymousId")),
        event=name,
        properties=properties,
        traits=_struct(item.get("traits"), at(path, "traits"), depth),
        context=_struct(context, at(path, "context"), depth),
        previous_id=_id(item.get("previousId"), at(path, "previousId")),
        group_id=_id(item.get("groupId"), at(path, "groupId")),
        original_time=original_time,
        sent_time=sent_time,
    )


class _Unstorable(Exception):
    """The quick conversion met a value to refuse: the located walk says what, where."""


def _struct(value: Any, field: str, max_depth: int) -> dict[str, Any] | None:
    """A JSON object as IngestEvents' Structs hold it: numbers as floats (as
    google.protobuf.Value), nested at most ``max_depth`` levels."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadEvent(field, "must be an object")
    try:
        # Without the path of every value: only a refusal needs one.
        return _value(value, 1, max_depth)  # type: ignore[no-any-return]
    except _Unstorable:
        _locate(value, field, 1, max_depth)
        raise BadEvent(field, "holds a value that cannot be stored") from None


def _value(value: Any, depth: int, max_depth: int) -> Any:
    if isinstance(value, str) or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, dict):
        if depth > max_depth:
            raise _Unstorable
        return {k: _value(v, depth + 1, max_depth) for k, v in value.items()}
    if isinstance(value, list):
        if depth > max_depth:
            raise _Unstorable
        return [_value(v, depth + 1, max_depth) for v in value]
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise _Unstorable from None
    # NaN and Infinity as Segment's Python library writes them, or 1e999 (infinity).
    if not math.isfinite(value):
        raise _Unstorable
    return value


def _locate(value: Any, path: str, depth: int, max_depth: int) -> None:
    """BadEvent naming the exact path of the first value ``_value`` refuses."""
    if isinstance(value, dict | list):
        if depth > max_depth:
            raise BadEvent(path, f"is nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _locate(item, _key_path(path, key), depth + 1, max_depth)
        else:
            for i, item in enumerate(value):
                _locate(item, f"{path}[{i}]", depth + 1, max_depth)
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            raise BadEvent(path, "is a number out of range") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadEvent(path, "must be a finite number (not NaN or Infinity)")


def _key_path(path: str, key: str) -> str:
    """As IngestEvents names a Struct key (AIP-161: backticks around an unusual key)."""
    if len(key) > _MAX_KEY_IN_PATH:
        key = key[:_MAX_KEY_IN_PATH] + "..."
    part = key if _PLAIN_KEY.fullmatch(key) else "`" + key.replace("`", "``") + "`"
    return f"{path}.{part}"


def _id(value: Any, field: str) -> str:
    """Segment ids are strings or numbers; null is absent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise BadEvent(field, "must be a string or a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadEvent(field, "holds a number out of range")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise BadEvent(field, "must be a string or a number")


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadEvent(field, "must be a string")
    return value


def _object(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadEvent(field, "must be an object")
    return value


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise BadEvent(path, "must be an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadEvent(path, "must be an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadEvent(path, "is out of range") from None
