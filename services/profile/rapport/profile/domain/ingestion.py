"""Rules for ingesting a batch: validation, identifiers, event times, duplicates.

The batch as a whole (its size) is checked first and refuses the request; each event
is then checked on its own, and a bad one is rejected alone (its Rejection names the
field), so that one bad event never sinks the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapport.errors import InvalidArgument

from .model import (
    TRAIT_BEARING_TYPES,
    EventType,
    Identifier,
    IncomingEvent,
    RejectedEvent,
    Rejection,
    RejectionReason,
    TraitSource,
)
from .refused_traits import IDENTIFIER_TRAITS

MAX_EVENTS_PER_BATCH = 1000
MAX_MESSAGE_ID_LENGTH = 200
MAX_GROUP_ID_LENGTH = 200
# context.library.name / version longer than this are cut when kept as a trait source.
MAX_LIBRARY_TEXT = 100
# Segment's limits: the serialized size of one event and of a whole batch.
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
# How deep the Structs of an event (properties, traits, context) may nest.
MAX_STRUCT_DEPTH = 32
# How far after its receive time an event's time (corrected for clock skew) may be.
MAX_EVENT_TIME_AHEAD = timedelta(hours=1)


@dataclass(frozen=True)
class IngestLimits:
    """Checked on the request as received, before anything is stored."""

    max_event_bytes: int = MAX_EVENT_BYTES
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_struct_depth: int = MAX_STRUCT_DEPTH
    max_event_time_ahead: timedelta = MAX_EVENT_TIME_AHEAD


@dataclass(frozen=True)
class SourcedIdentifier:
    """An identifier and the request field it came from (to name it in errors)."""

    identifier: Identifier
    field: str
    # True for `identifiers[n]` entries, whose sub-fields (`.type`, `.value`) exist.
    structured: bool = False


def validate_batch_size(count: int) -> None:
    """The request-level check: refuses the whole request."""
    if count == 0:
        raise InvalidArgument("events", "at least one event is required")
    if count > MAX_EVENTS_PER_BATCH:
        raise InvalidArgument("events", f"at most {MAX_EVENTS_PER_BATCH} events per call")


def rejection(err: InvalidArgument, reason: RejectionReason) -> Rejection:
    return Rejection(err.field, reason, err.description)


def validate_event(event: IncomingEvent, path: str) -> list[SourcedIdentifier]:
    """The event's identifiers; InvalidArgument naming the field of its first problem.

    An alias's previous_id comes as an anonymous_id: whether it is rather a previous
    user_id only identity knows (see ``previous_id_as``)."""
    if event.type is None:
        raise InvalidArgument(f"{path}.type", "is required (identify, track, page, ...)")
    if not event.message_id:
        raise InvalidArgument(f"{path}.message_id", "is required")
    if len(event.message_id) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidArgument(
            f"{path}.message_id", f"must be at most {MAX_MESSAGE_ID_LENGTH} characters"
        )
    if event.type is EventType.TRACK and not event.event:
        raise InvalidArgument(f"{path}.event", "is required for track events (the event name)")
    # Stored in text columns, where PostgreSQL refuses NUL characters.
    if "\x00" in event.message_id:
        raise InvalidArgument(f"{path}.message_id", "must not contain NUL characters")
    if "\x00" in event.event:
        raise InvalidArgument(f"{path}.event", "must not contain NUL characters")
    if event.type in TRAIT_BEARING_TYPES and any("\x00" in key for key in event.traits or {}):
        raise InvalidArgument(f"{path}.traits", "keys must not contain NUL characters")
    if event.type is EventType.GROUP:
        _check_group_id(event.group_id, f"{path}.group_id")
    if event.type is EventType.ALIAS and not event.previous_id:
        raise InvalidArgument(f"{path}.previous_id", "is required for alias events")
    identifiers = extract_identifiers(event, path)
    if not identifiers:
        raise InvalidArgument(
            path,
            "needs at least one identifier (user_id, anonymous_id, identifiers, traits.email, "
            "traits.phone or context.device.id)",
        )
    if event.type is EventType.ALIAS and len(identifiers) < 2:
        raise InvalidArgument(
            path, "an alias event needs a current identifier (user_id...) besides previous_id"
        )
    return identifiers


def _check_group_id(group_id: str, field: str) -> None:
    if not group_id:
        raise InvalidArgument(field, "is required for group events")
    if len(group_id) > MAX_GROUP_ID_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_GROUP_ID_LENGTH} characters")
    if "\x00" in group_id:
        raise InvalidArgument(field, "must not contain NUL characters")


def trait_source(event: IncomingEvent) -> TraitSource:
    """The source of the traits an event sets: its type and its context.library."""
    library = (event.context or {}).get("library")
    name = version = ""
    if isinstance(library, Mapping):
        name = _text(library.get("name"))
        version = _text(library.get("version"))
    return TraitSource(event_type=event.type, library_name=name, library_version=version)


def _text(value: Any) -> str:
    return value[:MAX_LIBRARY_TEXT] if isinstance(value, str) else ""


def extract_identifiers(
    event: IncomingEvent, path: str, previous_id_type: str = "anonymous_id"
) -> list[SourcedIdentifier]:
    """The identifiers an event carries, each with its field; duplicates dropped. An
    alias's previous_id is of ``previous_id_type``."""
    found: list[SourcedIdentifier] = []
    if event.user_id:
        found.append(SourcedIdentifier(Identifier("user_id", event.user_id), f"{path}.user_id"))
    if event.anonymous_id:
        found.append(
            SourcedIdentifier(
                Identifier("anonymous_id", event.anonymous_id), f"{path}.anonymous_id"
            )
        )
    for n, identifier in enumerate(event.identifiers):
        field = f"{path}.identifiers[{n}]"
        if not identifier.type.strip():
            raise InvalidArgument(f"{field}.type", "is required")
        if not identifier.value.strip():
            raise InvalidArgument(f"{field}.value", "is required")
        found.append(SourcedIdentifier(identifier, field, structured=True))
    # A group event's traits are the group's: its email is not the customer's.
    person_traits = event.traits if event.type is not EventType.GROUP else None
    if person_traits:
        for key in IDENTIFIER_TRAITS:
            value = _string_at(person_traits, (key,), path, f".traits.{key}")
            if value:
                found.append(SourcedIdentifier(Identifier(key, value), f"{path}.traits.{key}"))
    device_id = _string_at(event.context, ("device", "id"), path, ".context.device.id")
    if device_id:
        found.append(
            SourcedIdentifier(Identifier("device_id", device_id), f"{path}.context.device.id")
        )
    if event.type is EventType.ALIAS and event.previous_id:
        found.append(
            SourcedIdentifier(
                Identifier(previous_id_type, event.previous_id), f"{path}.previous_id"
            )
        )
    return _unique(found)


def _unique(found: Sequence[SourcedIdentifier]) -> list[SourcedIdentifier]:
    unique: list[SourcedIdentifier] = []
    seen: set[Identifier] = set()
    for sourced in found:
        if sourced.identifier not in seen:
            seen.add(sourced.identifier)
            unique.append(sourced)
    return unique


def is_previous_id(sourced: SourcedIdentifier) -> bool:
    """True for the identifier an alias event's previous_id gave."""
    return sourced.field.endswith(".previous_id")


def previous_id_as(
    identifiers: Sequence[SourcedIdentifier], identifier_type: str
) -> list[SourcedIdentifier]:
    """An alias's identifiers with its previous_id of ``identifier_type``.

    Segment's previousId is the user's previous id, "an anonymousId or a previous
    userId": it names the customer to merge with whichever it is."""
    return _unique(
        [
            SourcedIdentifier(Identifier(identifier_type, s.identifier.value), s.field)
            if is_previous_id(s)
            else s
            for s in identifiers
        ]
    )


def _string_at(
    document: Mapping[str, Any] | None, keys: tuple[str, ...], path: str, suffix: str
) -> str:
    """The string at ``keys`` (stripped; empty when absent or null); InvalidArgument
    naming ``path + suffix`` for another type (the name made only then)."""
    value: Any = document
    for key in keys:
        # Decoded Structs are dicts: the ABC check only for other mappings.
        if not (type(value) is dict or isinstance(value, Mapping)) or key not in value:
            return ""
        value = value[key]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(path + suffix, "must be a string")
    return value.strip()


def corrected_event_time(
    receive_time: datetime, original_time: datetime | None, sent_time: datetime | None
) -> datetime:
    """Segment semantics: shift the sender's time by its clock skew when both are known.

    Raises OverflowError when the shifted time is out of range.
    """
    if original_time is not None and sent_time is not None:
        return receive_time - (sent_time - original_time)
    if original_time is not None:
        return original_time
    return receive_time


def event_time(
    event: IncomingEvent,
    path: str,
    receive_time: datetime,
    max_ahead: timedelta = MAX_EVENT_TIME_AHEAD,
) -> datetime:
    """The event's corrected time; InvalidArgument when the correction leaves the
    calendar, or when the time is still more than ``max_ahead`` after the receive time.

    Clock skew is corrected with sent_time, so a sender's clock set ahead is no
    reason for an event from the future. One still dated ahead (a timestamp set by hand,
    a time zone taken for UTC, 2099) is refused, naming original_time, rather than kept:
    its time would move the profile's last seen time into the future, its traits would
    win every later write (last writer wins by event time) until then, and its windows
    would count it late or never. Refused, it is seen and fixed at the source; rewritten
    to the receive time, it would be stored with a time nobody sent.
    """
    try:
        corrected = corrected_event_time(receive_time, event.original_time, event.sent_time)
    except OverflowError:
        raise InvalidArgument(
            f"{path}.sent_time",
            "is too far from original_time: the event time corrected for the clock skew "
            "is out of range",
        ) from None
    if corrected - receive_time > max_ahead:
        skew = " after correcting the clock skew with sent_time" if event.sent_time else ""
        raise InvalidArgument(
            f"{path}.original_time",
            f"is in the future{skew}: more than {_spoken(max_ahead)} after the time the "
            "event was received",
        )
    return corrected


def _spoken(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{span.total_seconds():g} seconds"


@dataclass(frozen=True)
class BatchPlan:
    """Which events of a batch are new, and which repeat a message id."""

    new_indexes: list[int]
    # Event index -> what was stored for it before this batch.
    stored_duplicates: dict[int, Any]
    # Event index -> index of the earlier event of the batch with the same message id.
    batch_duplicates: dict[int, int]


def plan_batch(
    events: Sequence[IncomingEvent | RejectedEvent],
    stored: Mapping[str, Any],
    indexes: Sequence[int] | None = None,
) -> BatchPlan:
    """Split the events at ``indexes`` (default: all) given the message ids already
    stored (message id -> what was stored)."""
    new_indexes: list[int] = []
    stored_duplicates: dict[int, Any] = {}
    batch_duplicates: dict[int, int] = {}
    first_index: dict[str, int] = {}
    for i in range(len(events)) if indexes is None else indexes:
        event = events[i]
        if event.message_id in stored:
            stored_duplicates[i] = stored[event.message_id]
        elif event.message_id in first_index:
            batch_duplicates[i] = first_index[event.message_id]
        else:
            first_index[event.message_id] = i
            new_indexes.append(i)
    return BatchPlan(new_indexes, stored_duplicates, batch_duplicates)
