"""Resource names, the stored event document, and event times out of range."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.errors import InvalidArgument
from rapport.profile.domain import names
from rapport.profile.domain.documents import (
    event_document,
    event_from_document,
    format_time,
    parse_time,
)
from rapport.profile.domain.ingestion import event_time
from rapport.profile.domain.model import EventType, Identifier, IncomingEvent, StoredEvent
from rapport.profile.domain.signals import event_seen_payload

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_names_round_trip() -> None:
    assert names.workspace_name("default") == "workspaces/default"
    assert names.parse_workspace("workspaces/default", field="parent") == "default"
    customer = names.customer_name("default", "c1")
    assert customer == "workspaces/default/customers/c1"
    assert names.parse_customer(customer, field="f") == names.CustomerRef("default", "c1")
    profile = names.profile_name("default", "c1")
    assert profile == "workspaces/default/customers/c1/profile"
    assert names.parse_profile(profile, field="name") == names.CustomerRef("default", "c1")
    event = names.event_name("default", "c1", "e1")
    assert event == "workspaces/default/customers/c1/events/e1"
    assert names.parse_event(event, field="name") == names.EventRef("default", "c1", "e1")


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_an_event_name_made_from_its_customer_name_is_the_event_name(
    customer_id: str, event_id: str
) -> None:
    customer = names.customer_name("default", customer_id)
    expected = names.event_name("default", customer_id, event_id)
    assert names.event_name_under(customer, event_id) == expected


def test_events_parent_is_a_customer_or_all_of_them() -> None:
    every = names.parse_events_parent("workspaces/w/customers/-", field="parent")
    assert every == names.EventsParent("w", None)
    one = names.parse_events_parent("workspaces/w/customers/c1", field="parent")
    assert one == names.EventsParent("w", "c1")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "workspaces/w/customers/c1",
        "workspaces/w/customers/c1/events/",
        "workspaces/w/customers/-/events/e1",
        "workspaces/w/customers/c1/events/E1",
        "workspaces/w/customers/c1/events/e1/",
    ],
)
def test_malformed_event_names_name_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        names.parse_event(name, field="name")
    assert caught.value.field == "name"


def test_the_stored_document_keeps_every_sent_field() -> None:
    sent = IncomingEvent(
        type=EventType.TRACK,
        message_id="m1",
        user_id="u1",
        anonymous_id="a1",
        identifiers=(Identifier("crm_id", "c1"),),
        event="Order Completed",
        properties={"total": 9.5, "items": [{"sku": "A"}]},
        traits=None,
        context={},
        previous_id="p1",
        group_id="g1",
        original_time=T0,
        sent_time=T0 + timedelta(microseconds=5),
    )
    document = event_document(sent)
    assert "traits" not in document and document["context"] == {}
    assert document["original_timestamp"] == "2024-05-01T12:00:00.000000Z"
    assert event_from_document(document, type=EventType.TRACK, message_id="m1") == sent


def test_empty_fields_are_left_out_of_the_document() -> None:
    sent = IncomingEvent(type=EventType.PAGE, message_id="m1", anonymous_id="a1")
    assert event_document(sent) == {"message_id": "m1", "anonymous_id": "a1"}
    assert event_from_document(event_document(sent), type=EventType.PAGE, message_id="m1") == sent


def test_first_release_documents_are_read() -> None:
    document = {
        "type": "EVENT_TYPE_IDENTIFY",
        "message_id": "m1",
        "user_id": "u1",
        "traits": {"plan": "pro"},
        "original_timestamp": "2024-05-01T12:00:00.123456789Z",
        "sent_at": "2024-05-01T14:00:00+02:00",
    }
    read = event_from_document(document, type=EventType.IDENTIFY, message_id="m1")
    assert read.original_time == T0 + timedelta(microseconds=123456)
    assert read.sent_time == T0
    assert read.traits == {"plan": "pro"} and read.user_id == "u1"


@given(st.datetimes(timezones=st.just(UTC)))
def test_times_survive_the_document(moment: datetime) -> None:
    sent = IncomingEvent(type=EventType.TRACK, message_id="m", original_time=moment)
    document = event_document(sent)
    assert parse_time(document["original_timestamp"]) == moment


def test_a_skew_correction_out_of_range_names_sent_time() -> None:
    ok = IncomingEvent(type=EventType.PAGE, message_id="a", user_id="u")
    far = IncomingEvent(
        type=EventType.PAGE,
        message_id="b",
        user_id="u",
        original_time=datetime(1, 1, 1, tzinfo=UTC),
        sent_time=datetime(9999, 1, 1, tzinfo=UTC),
    )
    assert event_time(ok, "events[0]", T0) == T0
    with pytest.raises(InvalidArgument) as caught:
        event_time(far, "events[1]", T0)
    assert caught.value.field == "events[1].sent_time"


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
        datetime(999, 1, 2, tzinfo=UTC),
        datetime(2026, 5, 5, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
    ],
)
def test_times_are_written_as_isoformat_in_utc_with_microseconds(moment: datetime) -> None:
    reference = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    assert format_time(moment) == reference + "Z"


def test_event_seen_payloads_give_each_receive_time_its_own_text() -> None:
    sent = IncomingEvent(type=EventType.TRACK, message_id="m", user_id="u", event="e")
    at_utc = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    # The same instant in another zone: equal, yet written differently.
    elsewhere = at_utc.astimezone(timezone(timedelta(hours=2)))
    for received in (at_utc, at_utc, elsewhere, at_utc):
        stored = StoredEvent("e1", "ws", "c1", EventType.TRACK, at_utc, received, sent)
        assert event_seen_payload(stored)["received_at"] == received.isoformat()


def test_event_seen_payloads_take_a_known_seq_and_receive_time_text() -> None:
    sent = IncomingEvent(type=EventType.TRACK, message_id="m", user_id="u", event="e")
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stored = StoredEvent("e1", "ws", "c1", EventType.TRACK, at, at, sent)
    given_payload = event_seen_payload(stored, {}, seq=7, received_at=at.isoformat())
    assert given_payload == event_seen_payload(replace(stored, seq=7), {})
