"""Computed traits: per-customer aggregates of events over a sliding window of days.

Each customer's matching events are kept as per-day buckets (count, sum, min, max,
first and last value, value counts). Buckets merge associatively, so ingestion adds an
event's bucket to the stored one, a backfill adds old events the same way, and the
value is computed at read time from the buckets inside the window: expiry as the
window slides is exact, and costs nothing until read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from rapport.errors import InvalidArgument

from .model import EventType, IncomingEvent

KEY = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 3650
MAX_FILTERS = 10
MAX_PATH = 200
MAX_EVENT_NAME = 200
# Distinct values kept per customer and day (UNIQUE_*, MOST_FREQUENT).
MAX_VALUES_PER_DAY = 100
_EPOCH = date(1970, 1, 1)


class Kind(StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVERAGE = "average"
    MIN = "min"
    MAX = "max"
    MOST_FREQUENT = "most_frequent"
    FIRST = "first"
    LAST = "last"
    UNIQUE_LIST = "unique_list"
    UNIQUE_COUNT = "unique_count"


_NUMERIC = {Kind.SUM, Kind.AVERAGE, Kind.MIN, Kind.MAX}
_COUNTED_VALUES = {Kind.MOST_FREQUENT, Kind.UNIQUE_LIST, Kind.UNIQUE_COUNT}


@dataclass(frozen=True)
class ComputedTrait:
    workspace: str
    trait_id: str
    key: str
    kind: Kind
    window_days: int
    event: str
    filter: dict[str, Any]
    property: str
    create_time: datetime
    job_id: str


@dataclass(frozen=True)
class BackfillJob:
    workspace: str
    trait_id: str
    job_id: str
    state: str  # pending, running, succeeded
    upto_seq: int
    cursor_seq: int
    processed: int
    total: int
    create_time: datetime
    update_time: datetime


def day_number(moment: datetime) -> int:
    return (moment.astimezone(UTC).date() - _EPOCH).days


def first_day(trait: ComputedTrait, now: datetime) -> int:
    """The earliest day inside the trait's window at ``now``."""
    return day_number(now) - trait.window_days + 1


def next_day_start(now: datetime) -> datetime:
    """The next UTC midnight after ``now``: when every window slides by a day."""
    start = _EPOCH + timedelta(days=day_number(now) + 1)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def window_start(trait: ComputedTrait, now: datetime) -> datetime:
    start = _EPOCH + timedelta(days=first_day(trait, now))
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def check(
    key: str,
    kind: Kind | None,
    window_days: int,
    event: str,
    filter_: Mapping[str, Any],
    property_: str,
    prefix: str,
) -> int:
    """Validate a new trait (InvalidArgument naming the field); the window in days."""
    if not KEY.fullmatch(key):
        raise InvalidArgument(f"{prefix}.key", "must match [a-z_][a-z0-9_]{0,62}")
    if kind is None:
        raise InvalidArgument(f"{prefix}.kind", "is required")
    if window_days < 0 or window_days > MAX_WINDOW_DAYS:
        raise InvalidArgument(f"{prefix}.window_days", f"must be 0 to {MAX_WINDOW_DAYS}")
    if len(event) > MAX_EVENT_NAME or "\x00" in event:
        raise InvalidArgument(f"{prefix}.event", f"must be at most {MAX_EVENT_NAME} characters")
    if len(filter_) > MAX_FILTERS:
        raise InvalidArgument(f"{prefix}.filter", f"at most {MAX_FILTERS} properties")
    for path, value in filter_.items():
        _check_path(path, f"{prefix}.filter")
        if isinstance(value, (dict, list)):
            raise InvalidArgument(
                f'{prefix}.filter["{path}"]', "must be a string, number, bool or null"
            )
    if kind is Kind.COUNT:
        if property_:
            _check_path(property_, f"{prefix}.property")
    else:
        if not property_:
            raise InvalidArgument(f"{prefix}.property", f"is required for {kind.name}")
        _check_path(property_, f"{prefix}.property")
    return window_days or DEFAULT_WINDOW_DAYS


def _check_path(path: str, field_: str) -> None:
    if not path or len(path) > MAX_PATH or "\x00" in path or any(not p for p in path.split(".")):
        raise InvalidArgument(field_, "must be a dot-separated property path")


_MISSING = object()
_NAMED_TYPES = (EventType.TRACK, EventType.PAGE, EventType.SCREEN)


def _find(properties: Any, parts: tuple[str, ...]) -> Any:
    """The value at the path (its parts), or _MISSING."""
    value = properties
    for part in parts:
        if not (type(value) is dict or isinstance(value, Mapping)) or part not in value:
            return _MISSING
        value = value[part]
    return value


def value_text(value: Any) -> str:
    """The JSON text a counted value is kept under (a string's is json.dumps' own C
    encoder's text: json.dumps builds an encoder per call when sort_keys is given)."""
    if type(value) is str:
        return _encode_string(value)
    return json.dumps(value, sort_keys=True)


_encode_string = json.encoder.encode_basestring_ascii  # what json.dumps uses for str


class Observer:
    """Whether an event counts for one trait, the value it brings, and how it adds to a
    day's bucket, with the trait's paths split and its kind's branches chosen once
    (ingestion runs it for every event it counts)."""

    __slots__ = (
        "trait",
        "_types",
        "_event",
        "_filters",
        "_property",
        "_count",
        "_numeric",
        "_ends",
    )

    def __init__(self, trait: ComputedTrait) -> None:
        self.trait = trait
        self._types = _NAMED_TYPES if trait.event else (EventType.TRACK,)
        self._event = trait.event
        self._filters = tuple(
            (tuple(path.split(".")), wanted, isinstance(wanted, bool))
            for path, wanted in trait.filter.items()
        )
        self._property = tuple(trait.property.split("."))
        self._count = trait.kind is Kind.COUNT
        self._numeric = trait.kind in _NUMERIC
        self._ends = trait.kind in (Kind.FIRST, Kind.LAST)

    def observation(self, event: IncomingEvent) -> tuple[bool, Any]:
        """(counts, value): whether the event counts for the trait, and the value it
        brings."""
        if event.type not in self._types or (self._event and event.event != self._event):
            return False, None
        for parts, wanted, wanted_bool in self._filters:
            value = _find(event.properties, parts)
            if value is _MISSING or value != wanted or isinstance(value, bool) != wanted_bool:
                return False, None
        if self._count:
            return True, None
        value = _find(event.properties, self._property)
        if value is _MISSING or value is None:
            return False, None
        if self._numeric:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False, None
            if not math.isfinite(value):
                return False, None
            return True, float(value)
        if isinstance(value, (dict, list)):
            return False, None
        return True, value

    def add(self, bucket: Bucket, value: Any, moment: datetime) -> None:
        """bucket.add(trait.kind, value, moment)."""
        bucket.count += 1
        if self._count:
            return
        if self._numeric:
            bucket.sum += value
            bucket.min = value if bucket.min is None else min(bucket.min, value)
            bucket.max = value if bucket.max is None else max(bucket.max, value)
        elif self._ends:
            if bucket.first_time is None or moment < bucket.first_time:
                bucket.first_time, bucket.first_value = moment, value
            if bucket.last_time is None or moment >= bucket.last_time:
                bucket.last_time, bucket.last_value = moment, value
        else:
            text = value_text(value)
            values = bucket.values
            if text in values or len(values) < MAX_VALUES_PER_DAY:
                values[text] = values.get(text, 0) + 1


@dataclass
class Bucket:
    """One customer's matching events of one day, for one trait."""

    count: int = 0
    sum: float = 0.0
    min: float | None = None
    max: float | None = None
    first_time: datetime | None = None
    first_value: Any = None
    last_time: datetime | None = None
    last_value: Any = None
    # JSON text of a value -> how many events had it.
    values: dict[str, int] = field(default_factory=dict)

    def add(self, kind: Kind, value: Any, moment: datetime) -> None:
        self.count += 1
        if kind in _NUMERIC:
            self.sum += value
            self.min = value if self.min is None else min(self.min, value)
            self.max = value if self.max is None else max(self.max, value)
        if kind in (Kind.FIRST, Kind.LAST):
            if self.first_time is None or moment < self.first_time:
                self.first_time, self.first_value = moment, value
            if self.last_time is None or moment >= self.last_time:
                self.last_time, self.last_value = moment, value
        if kind in _COUNTED_VALUES:
            text = value_text(value)
            if text in self.values or len(self.values) < MAX_VALUES_PER_DAY:
                self.values[text] = self.values.get(text, 0) + 1

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.sum += other.sum
        if other.min is not None and (self.min is None or other.min < self.min):
            self.min = other.min
        if other.max is not None and (self.max is None or other.max > self.max):
            self.max = other.max
        if other.first_time is not None and (
            self.first_time is None or other.first_time < self.first_time
        ):
            self.first_time, self.first_value = other.first_time, other.first_value
        if other.last_time is not None and (
            self.last_time is None or other.last_time >= self.last_time
        ):
            self.last_time, self.last_value = other.last_time, other.last_value
        if not other.values:
            return
        ours = self.values
        if not ours:
            ours.update(other.values)  # within the limit: both respect it
            return
        for text, n in other.values.items():
            if text in ours or len(ours) < MAX_VALUES_PER_DAY:
                ours[text] = ours.get(text, 0) + n


def value_of(kind: Kind, buckets: Iterable[Bucket]) -> Any:
    """The trait's value from the buckets inside its window; None when no event counts
    (COUNT and UNIQUE_COUNT: 0)."""
    total = Bucket()
    for bucket in buckets:
        total.merge(bucket)
    if kind is Kind.COUNT:
        return total.count
    if kind is Kind.UNIQUE_COUNT:
        return len(total.values)
    if total.count == 0:
        return None
    if kind is Kind.SUM:
        return total.sum
    if kind is Kind.AVERAGE:
        return total.sum / total.count
    if kind is Kind.MIN:
        return total.min
    if kind is Kind.MAX:
        return total.max
    if kind is Kind.FIRST:
        return total.first_value
    if kind is Kind.LAST:
        return total.last_value
    if kind is Kind.UNIQUE_LIST:
        return [json.loads(text) for text in sorted(total.values)]
    # MOST_FREQUENT: the largest count; ties, the smallest JSON text.
    best = min(total.values.items(), key=lambda item: (-item[1], item[0]))
    return json.loads(best[0])


def values_for(
    traits: Iterable[ComputedTrait],
    buckets: Mapping[tuple[str, int], Bucket],
    now: datetime,
) -> dict[str, Any]:
    """One customer's computed traits by key, from its buckets ((trait id, day) -> bucket).
    Traits with no value are left out, except counts (0)."""
    by_trait: dict[str, list[tuple[int, Bucket]]] = {}
    for (trait_id, day), bucket in buckets.items():
        by_trait.setdefault(trait_id, []).append((day, bucket))
    found: dict[str, Any] = {}
    for trait in traits:
        start = first_day(trait, now)
        inside = [b for day, b in by_trait.get(trait.trait_id, ()) if day >= start]
        value = value_of(trait.kind, inside)
        if value is not None:
            found[trait.key] = value
    return found
