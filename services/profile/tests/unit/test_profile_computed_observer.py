"""Observer (a trait's paths split and its kind's branches chosen once) answers what
the plain reading of the rules below (observation, the path walked part by part) and
Bucket.add answer, for any trait and event; value_text is json.dumps(value,
sort_keys=True)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.profile.domain.computed import (
    Bucket,
    ComputedTrait,
    Kind,
    Observer,
    value_text,
)
from rapport.profile.domain.model import EventType, IncomingEvent

_NUMERIC = (Kind.SUM, Kind.AVERAGE, Kind.MIN, Kind.MAX)


def _lookup(properties: Mapping[str, Any] | None, path: str) -> tuple[bool, Any]:
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def observation(trait: ComputedTrait, event: IncomingEvent) -> tuple[bool, Any]:
    """The rules as written: (counts, value)."""
    if trait.event:
        if event.type not in (EventType.TRACK, EventType.PAGE, EventType.SCREEN):
            return False, None
        if event.event != trait.event:
            return False, None
    elif event.type is not EventType.TRACK:
        return False, None
    for path, wanted in trait.filter.items():
        found, value = _lookup(event.properties, path)
        if not found or value != wanted or isinstance(value, bool) != isinstance(wanted, bool):
            return False, None
    if trait.kind is Kind.COUNT:
        return True, None
    found, value = _lookup(event.properties, trait.property)
    if not found or value is None:
        return False, None
    if trait.kind in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, None
        if not math.isfinite(value):
            return False, None
        return True, float(value)
    if isinstance(value, (dict, list)):
        return False, None
    return True, value


NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
NAMES = ["Order Completed", "Viewed", ""]
KEYS = ["a", "b"]
SCALARS = st.sampled_from(
    [None, True, False, 0, 1, 1.0, 2.5, -3, "x", "é", "\u2028", float("nan"), float("inf")]
)
JSON = st.recursive(
    SCALARS | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=6,
)
PATHS = st.sampled_from(["a", "b", "a.b"])
# Mostly values a trait's filter or property may name, sometimes nested or a list.
PROPERTIES = st.none() | st.dictionaries(
    st.sampled_from(KEYS), SCALARS | st.dictionaries(st.just("b"), SCALARS) | JSON, max_size=2
)
TRAITS = st.builds(
    lambda kind, event, filter_, prop: ComputedTrait(
        "w", "t", "k", kind, 90, event, filter_, prop, NOW, "initial"
    ),
    st.sampled_from(list(Kind)),
    st.sampled_from(NAMES),
    st.dictionaries(PATHS, SCALARS, max_size=1),
    PATHS,
)


def events_for(trait: ComputedTrait) -> st.SearchStrategy[IncomingEvent]:
    """Events mostly of the trait's name and a type it counts, sometimes of others."""
    return st.builds(
        lambda type_, name, properties: IncomingEvent(
            type=type_, message_id="m", event=name, properties=properties
        ),
        st.sampled_from([EventType.TRACK] * 4 + list(EventType)),
        st.sampled_from([trait.event] * 4 + NAMES),
        PROPERTIES,
    )


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (a NaN property is refused alike, never compared)."""
    return a == b or (a != a and b != b)


@settings(max_examples=1000, deadline=None)
@given(TRAITS, st.data())
def test_an_observer_counts_as_observation_and_bucket_add(
    trait: ComputedTrait, data: st.DataObject
) -> None:
    observer = Observer(trait)
    ours, theirs = Bucket(), Bucket()
    events = data.draw(st.lists(st.tuples(events_for(trait), st.integers(0, 1)), max_size=8))
    for event, minutes in events:
        expected = observation(trait, event)
        got = observer.observation(event)
        assert got[0] == expected[0] and _same(got[1], expected[1])
        if got[0]:
            moment = NOW + timedelta(minutes=minutes)
            observer.add(ours, got[1], moment)
            theirs.add(trait.kind, expected[1], moment)
    assert json.dumps(asdict(ours), default=str) == json.dumps(asdict(theirs), default=str)


@given(JSON)
def test_value_text_is_the_json_text_counted_values_are_kept_under(value: Any) -> None:
    assert value_text(value) == json.dumps(value, sort_keys=True)
