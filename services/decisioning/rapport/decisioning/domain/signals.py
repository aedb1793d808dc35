"""Profile's signals as triggers see them, and the kinds of trigger they fire."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol


class TriggerKind(enum.Enum):
    """What fires a trigger (one of profile's signal kinds, or a time from a date trait)."""

    EVENT = "event"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    LIFE_STAGE_CHANGED = "life_stage_changed"
    TIME_WINDOW = "time_window"


class _TriggerSpec(Protocol):
    kind: TriggerKind
    segment: str
    life_stage: str
    date_trait: str
    offset_days: int
    years_after: int
    throttle: timedelta | None
    best_channel: bool


def trigger_spec(trigger: _TriggerSpec) -> dict[str, Any]:
    """A trigger's fields beyond an event trigger's, as stored (JSON); {} for a plain one."""
    spec: dict[str, Any] = {}
    if trigger.kind is not TriggerKind.EVENT:
        spec["kind"] = trigger.kind.value
    for key in ("segment", "life_stage", "date_trait", "offset_days", "years_after"):
        if value := getattr(trigger, key):
            spec[key] = value
    if trigger.throttle is not None:
        spec["throttle_seconds"] = int(trigger.throttle.total_seconds())
    if trigger.best_channel:
        spec["best_channel"] = True
    return spec


def trigger_spec_fields(spec: dict[str, Any] | None) -> dict[str, Any]:
    """Trigger keyword arguments of a stored spec (None: a plain event trigger)."""
    spec = spec or {}
    seconds = spec.get("throttle_seconds")
    return {
        "kind": TriggerKind(spec.get("kind", TriggerKind.EVENT.value)),
        "segment": spec.get("segment", ""),
        "life_stage": spec.get("life_stage", ""),
        "date_trait": spec.get("date_trait", ""),
        "offset_days": spec.get("offset_days", 0),
        "years_after": spec.get("years_after", 0),
        "throttle": timedelta(seconds=seconds) if seconds else None,
        "best_channel": bool(spec.get("best_channel", False)),
    }


@dataclass(frozen=True)
class TrackedEvent:
    """The event of an event-seen signal, as trigger conditions see it."""

    type: str  # "track", "identify", ...
    name: str
    message_id: str
    properties: dict[str, Any]
    context: dict[str, Any]
    # When it happened (the event's corrected time); None when unknown.
    time: datetime | None = None


class SignalKind(enum.Enum):
    EVENT_SEEN = "event_seen"
    TRAIT_CHANGED = "trait_changed"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    LIFE_STAGE_CHANGED = "life_stage_changed"
    OTHER = "other"


@dataclass(frozen=True)
class TraitChange:
    key: str
    # The value after (JSON-like); None when the trait was removed.
    value: Any


@dataclass(frozen=True)
class Signal:
    """One entry of the profile service's signal log; `event` only for event-seen signals."""

    cursor: str
    customer: str
    event: TrackedEvent | None
    # Why the signal could not be read (its event holds values this service cannot
    # convert); empty when it could. An unreadable signal is recorded and passed over.
    unreadable: str = ""
    # Signals profile passed over just before this one because it could not stream them.
    skipped_before: int = 0
    kind: SignalKind = SignalKind.EVENT_SEEN
    # SEGMENT_ENTERED / SEGMENT_EXITED: the segment's name.
    segment: str = ""
    # LIFE_STAGE_CHANGED: the stages before and after ('' for none).
    old_stage: str = ""
    new_stage: str = ""
    # TRAIT_CHANGED: the trait and its new value.
    trait: TraitChange | None = None
