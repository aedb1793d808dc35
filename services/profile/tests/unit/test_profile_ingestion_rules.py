"""Domain rules of ingestion: validation, identifiers, timestamps, duplicates.

The batch's size refuses a request; every other problem is one event's, and names
its field (the event alone is rejected).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.errors import InvalidArgument
from rapport.profile.domain.ingestion import (
    corrected_event_time,
    event_time,
    extract_identifiers,
    plan_batch,
    previous_id_as,
    trait_source,
    validate_batch_size,
    validate_event,
)
from rapport.profile.domain.model import EventType, Identifier, IncomingEvent, TraitSource

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(**fields: object) -> IncomingEvent:
    defaults: dict[str, object] = {
        "type": EventType.IDENTIFY,
        "message_id": "m1",
        "user_id": "u1",
    }
    return IncomingEvent(**{**defaults, **fields})  # type: ignore[arg-type]


def validate_batch(events: list[IncomingEvent]) -> None:
    """The batch check, then each event's (the first problem raised)."""
    validate_batch_size(len(events))
    for i, incoming in enumerate(events):
        validate_event(incoming, f"events[{i}]")


def refused(events: list[IncomingEvent]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        validate_batch(events)
    return caught.value


def test_empty_batch_is_refused() -> None:
    assert refused([]).field == "events"


def test_more_than_1000_events_are_refused() -> None:
    events = [event(message_id=f"m{i}") for i in range(1001)]
    assert refused(events).field == "events"


def test_unspecified_type_is_named() -> None:
    assert refused([event(), event(type=None)]).field == "events[1].type"


def test_message_id_is_required_and_bounded() -> None:
    assert refused([event(message_id="")]).field == "events[0].message_id"
    assert refused([event(), event(message_id="x" * 201)]).field == "events[1].message_id"
    validate_batch([event(message_id="x" * 200)])


def test_track_needs_an_event_name() -> None:
    assert refused([event(type=EventType.TRACK)]).field == "events[0].event"
    validate_batch([event(type=EventType.TRACK, event="Order Completed")])
    validate_batch([event(type=EventType.PAGE)])  # page names are optional


def test_an_identifier_is_required() -> None:
    err = refused([event(), event(message_id="m2", user_id="")])
    assert err.field == "events[1]"
    assert "needs at least one identifier" in err.description


def test_explicit_identifiers_need_type_and_value() -> None:
    bad_type = event(identifiers=(Identifier("", "x"),))
    assert refused([bad_type]).field == "events[0].identifiers[0].type"
    bad_value = event(identifiers=(Identifier("email", "a@b.c"), Identifier("crm_id", " ")))
    assert refused([bad_value]).field == "events[0].identifiers[1].value"


def test_non_string_email_trait_is_refused() -> None:
    assert refused([event(traits={"email": 3.0})]).field == "events[0].traits.email"


def test_identifiers_come_from_every_place_with_their_field() -> None:
    incoming = event(
        type=EventType.ALIAS,
        user_id="u1",
        anonymous_id="a1",
        identifiers=(Identifier("crm_id", "c1"),),
        traits={"email": "Ann@Example.com", "phone": "+44 20 7946 0000", "plan": "pro"},
        context={"device": {"id": "d1"}},
        previous_id="a0",
    )
    found = {
        (s.identifier.type, s.identifier.value): s.field
        for s in extract_identifiers(incoming, "events[3]")
    }
    assert found == {
        ("user_id", "u1"): "events[3].user_id",
        ("anonymous_id", "a1"): "events[3].anonymous_id",
        ("crm_id", "c1"): "events[3].identifiers[0]",
        ("email", "Ann@Example.com"): "events[3].traits.email",
        ("phone", "+44 20 7946 0000"): "events[3].traits.phone",
        ("device_id", "d1"): "events[3].context.device.id",
        ("anonymous_id", "a0"): "events[3].previous_id",
    }


def test_previous_id_counts_only_for_alias_events() -> None:
    found = extract_identifiers(event(user_id="", previous_id="a0"), "events[0]")
    assert found == []


def test_repeated_identifiers_are_sent_once() -> None:
    incoming = event(user_id="u1", identifiers=(Identifier("user_id", "u1"),))
    assert [s.field for s in extract_identifiers(incoming, "events[0]")] == ["events[0].user_id"]


def test_device_id_alone_is_enough() -> None:
    validate_batch([event(user_id="", context={"device": {"id": "d1"}})])


def test_skew_is_corrected_when_both_sender_times_are_known() -> None:
    received = T0
    sent = T0 + timedelta(hours=2)  # the sender's clock is two hours fast
    original = sent - timedelta(seconds=30)
    assert corrected_event_time(received, original, sent) == T0 - timedelta(seconds=30)


def test_event_time_falls_back_to_original_then_received() -> None:
    original = T0 - timedelta(days=1)
    assert corrected_event_time(T0, original, None) == original
    assert corrected_event_time(T0, None, T0 + timedelta(hours=1)) == T0
    assert corrected_event_time(T0, None, None) == T0


def test_an_event_still_ahead_after_skew_correction_is_refused_naming_its_time() -> None:
    bound = timedelta(hours=1)
    soon = event(original_time=T0 + timedelta(minutes=59))
    assert event_time(soon, "events[0]", T0, bound) == T0 + timedelta(minutes=59)
    # A sender's clock a year fast: its sent time corrects it.
    skewed = event(
        original_time=T0 + timedelta(days=365),
        sent_time=T0 + timedelta(days=365, seconds=5),
    )
    assert event_time(skewed, "events[0]", T0, bound) == T0 - timedelta(seconds=5)
    for far in (
        event(original_time=datetime(2099, 1, 1, tzinfo=UTC)),
        # Dated after it was sent, by more than the bound: no correction brings it back.
        event(original_time=T0 + timedelta(hours=3), sent_time=T0),
    ):
        with pytest.raises(InvalidArgument) as caught:
            event_time(far, "events[2]", T0, bound)
        assert caught.value.field == "events[2].original_time"
        assert "1 hour after" in caught.value.description


def test_an_alias_previous_id_can_be_a_previous_user_id() -> None:
    alias = event(type=EventType.ALIAS, user_id="new-login", previous_id="old-login")
    found = extract_identifiers(alias, "events[0]")
    assert [s.identifier for s in found] == [
        Identifier("user_id", "new-login"),
        Identifier("anonymous_id", "old-login"),
    ]
    as_user = previous_id_as(found, "user_id")
    assert [(s.identifier, s.field) for s in as_user] == [
        (Identifier("user_id", "new-login"), "events[0].user_id"),
        (Identifier("user_id", "old-login"), "events[0].previous_id"),
    ]
    # The same id twice is sent once.
    same = event(type=EventType.ALIAS, user_id="x", previous_id="x")
    [only] = previous_id_as(extract_identifiers(same, "events[0]"), "user_id")
    assert only.field == "events[0].user_id"


def test_plan_separates_new_stored_and_repeated_events() -> None:
    events = [event(message_id=m) for m in ["a", "b", "a", "c", "b", "c"]]
    plan = plan_batch(events, {"c": "cust-1"})
    assert plan.new_indexes == [0, 1]
    assert plan.stored_duplicates == {3: "cust-1", 5: "cust-1"}
    assert plan.batch_duplicates == {2: 0, 4: 1}


@given(
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=30), st.sets(st.sampled_from("abcdef"))
)
def test_plan_accounts_for_every_event_once(ids: list[str], stored_ids: set[str]) -> None:
    events = [event(message_id=m) for m in ids]
    plan = plan_batch(events, {m: "c" for m in stored_ids})
    placed = [*plan.new_indexes, *plan.stored_duplicates, *plan.batch_duplicates]
    assert sorted(placed) == list(range(len(ids)))
    new_ids = [ids[i] for i in plan.new_indexes]
    assert len(new_ids) == len(set(new_ids)) == len(set(ids) - stored_ids)


def test_nul_characters_are_refused_where_they_would_be_stored_as_text() -> None:
    assert refused([event(message_id="a\x00b")]).field == "events[0].message_id"
    assert refused([event(type=EventType.TRACK, event="x\x00")]).field == "events[0].event"
    assert refused([event(traits={"a\x00": 1.0})]).field == "events[0].traits"


def test_group_and_alias_events_need_their_ids() -> None:
    assert refused([event(type=EventType.GROUP)]).field == "events[0].group_id"
    assert refused([event(type=EventType.GROUP, group_id="g\x00")]).field == "events[0].group_id"
    assert refused([event(type=EventType.GROUP, group_id="g" * 201)]).field == "events[0].group_id"
    validate_batch([event(type=EventType.GROUP, group_id="Acme Inc.")])
    assert refused([event(type=EventType.ALIAS)]).field == "events[0].previous_id"
    alone = event(type=EventType.ALIAS, user_id="", previous_id="a0")
    assert refused([alone]).field == "events[0]"
    validate_batch([event(type=EventType.ALIAS, previous_id="a0")])


def test_trait_source_comes_from_the_context_library() -> None:
    sent = event(context={"library": {"name": "analytics-python", "version": "2.3.3"}})
    assert trait_source(sent) == TraitSource(EventType.IDENTIFY, "analytics-python", "2.3.3")
    odd = event(type=EventType.GROUP, context={"library": {"name": 7, "version": "v" * 500}})
    assert trait_source(odd) == TraitSource(EventType.GROUP, "", "v" * 100)
    assert trait_source(event()) == TraitSource(EventType.IDENTIFY)


def test_a_groups_email_is_not_the_customers_identifier() -> None:
    group = event(type=EventType.GROUP, group_id="acme", traits={"email": "info@acme.example"})
    assert [s.identifier for s in extract_identifiers(group, "events[0]")] == [
        Identifier("user_id", "u1")
    ]
