"""Traits: last writer wins by event time, ties to the later ingested event."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from rapport.profile.domain.model import Trait
from rapport.profile.domain.traits import apply_event_traits, merge_traits, same_value

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_newer_event_overwrites_and_reports_the_change() -> None:
    traits: dict[str, Trait] = {}
    apply_event_traits(
        traits,
        {"plan": "free"},
        source_message_id="m1",
        event_time=at(1),
        received_at=T0,
        batch_index=1,
    )
    written, changes = apply_event_traits(
        traits,
        {"plan": "pro"},
        source_message_id="m2",
        event_time=at(2),
        received_at=T0,
        batch_index=2,
    )
    assert written == ["plan"]
    assert traits["plan"].value == "pro" and traits["plan"].source_message_id == "m2"
    [change] = changes
    assert (change.had_old_value, change.old_value, change.new_value) == (True, "free", "pro")


def test_older_event_never_overwrites_a_newer_value() -> None:
    traits: dict[str, Trait] = {}
    apply_event_traits(
        traits,
        {"plan": "pro"},
        source_message_id="new",
        event_time=at(5),
        received_at=T0,
        batch_index=1,
    )
    written, changes = apply_event_traits(
        traits,
        {"plan": "free", "city": "Oslo"},
        source_message_id="old",
        event_time=at(1),
        received_at=T0,
        batch_index=2,
    )
    assert written == ["city"]
    assert traits["plan"].value == "pro" and traits["plan"].source_message_id == "new"
    assert [c.key for c in changes] == ["city"]
    assert changes[0].had_old_value is False


def test_equal_times_go_to_the_later_ingested_event() -> None:
    traits: dict[str, Trait] = {}
    apply_event_traits(
        traits,
        {"plan": "free"},
        source_message_id="m1",
        event_time=at(1),
        received_at=T0,
        batch_index=1,
    )
    apply_event_traits(
        traits,
        {"plan": "pro"},
        source_message_id="m2",
        event_time=at(1),
        received_at=T0,
        batch_index=2,
    )
    assert traits["plan"].value == "pro"


def test_equal_times_across_batches_go_to_the_later_received_batch() -> None:
    traits: dict[str, Trait] = {}
    later_batch = at(30)
    apply_event_traits(
        traits,
        {"plan": "pro"},
        source_message_id="b2",
        event_time=at(1),
        received_at=later_batch,
        batch_index=0,
    )
    apply_event_traits(
        traits,
        {"plan": "free"},
        source_message_id="b1",
        event_time=at(1),
        received_at=at(20),
        batch_index=7,
    )  # committed last, but received first: it loses
    assert traits["plan"].value == "pro"


def test_same_value_from_a_newer_event_updates_source_without_a_change() -> None:
    traits: dict[str, Trait] = {}
    apply_event_traits(
        traits,
        {"plan": "pro"},
        source_message_id="m1",
        event_time=at(1),
        received_at=T0,
        batch_index=1,
    )
    written, changes = apply_event_traits(
        traits,
        {"plan": "pro"},
        source_message_id="m2",
        event_time=at(2),
        received_at=T0,
        batch_index=2,
    )
    assert written == ["plan"] and changes == []
    assert traits["plan"].source_message_id == "m2"


def test_true_and_one_are_different_values() -> None:
    assert not same_value(True, 1.0)
    assert same_value({"a": 1.0, "b": [1, "x"]}, {"b": [1, "x"], "a": 1.0})


def test_merge_keeps_the_newest_value_of_each_trait() -> None:
    survivor = {
        "plan": Trait("pro", "s1", at(5), T0, 5),
        "city": Trait("Oslo", "s2", at(1), T0, 1),
    }
    merged = {
        "plan": Trait("free", "m1", at(2), T0, 9),
        "city": Trait("Bergen", "m2", at(3), T0, 3),
        "age": Trait(40.0, "m3", at(0), T0, 0),
    }
    written, changes = merge_traits(survivor, merged)
    assert sorted(written) == ["age", "city"]
    assert {k: t.value for k, t in survivor.items()} == {
        "plan": "pro",
        "city": "Bergen",
        "age": 40.0,
    }
    assert sorted(c.key for c in changes) == ["age", "city"]


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", "c"])), min_size=1))
def test_final_value_does_not_depend_on_arrival_order(updates: list[tuple[int, str]]) -> None:
    # Each update: (event minute, value); seq = position in the original list.
    def final(order: list[int]) -> object:
        traits: dict[str, Trait] = {}
        for n in order:
            minute, value = updates[n]
            apply_event_traits(
                traits,
                {"k": value},
                source_message_id=f"m{n}",
                event_time=at(minute),
                received_at=T0,
                batch_index=n,
            )
        return traits["k"].value

    shuffled = list(range(len(updates)))
    random.Random(len(updates)).shuffle(shuffled)
    assert final(list(range(len(updates)))) == final(shuffled)
