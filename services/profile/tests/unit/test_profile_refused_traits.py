"""Which traits carry an identifier identity left unlinked: those are withheld from the
event, the rest of it kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapport.profile.domain.model import EventType, Identifier, IncomingEvent
from rapport.profile.domain.refused_traits import withhold_refused_traits


@dataclass(frozen=True)
class Refused:
    type: str
    value: str
    reason: str = "KEPT_APART"
    description: str = "its customer is kept apart from the others"


def identify(traits: dict[str, Any], **fields: Any) -> IncomingEvent:
    return IncomingEvent(
        type=fields.pop("type", EventType.IDENTIFY),
        message_id="m1",
        user_id="bob",
        traits=traits,
        **fields,
    )


def test_a_refused_phone_is_withheld_and_the_rest_kept() -> None:
    event = identify({"phone": "+1 202-555-0123", "email": "bob@example.com", "plan": "pro"})
    kept, withheld = withhold_refused_traits(
        event, [Refused("phone", "+12025550123", "LIMIT_EXCEEDED")], "events[3]"
    )
    assert kept.traits == {"email": "bob@example.com", "plan": "pro"}
    assert event.traits is not None and "phone" in event.traits  # the sent event unchanged
    [trait] = withheld
    assert (trait.field, trait.reason, trait.identifier_type, trait.identity_reason) == (
        "events[3].traits.phone",
        "IDENTIFIER_REFUSED",
        "phone",
        "LIMIT_EXCEEDED",
    )
    # The description names no value.
    assert "202" not in trait.description and "kept apart" in trait.description


def test_an_email_matches_whatever_its_case() -> None:
    kept, withheld = withhold_refused_traits(
        identify({"email": " Ann@Example.COM "}), [Refused("email", "ann@example.com")], "events[0]"
    )
    assert kept.traits == {} and [w.field for w in withheld] == ["events[0].traits.email"]


def test_a_value_identity_normalised_beyond_recognition_is_withheld() -> None:
    # Identity's default region made "(202) 555-0123" +12025550123: it may be this one.
    kept, withheld = withhold_refused_traits(
        identify({"phone": "(202) 555-0123"}), [Refused("phone", "+12025550123")], "events[0]"
    )
    assert kept.traits == {} and len(withheld) == 1


def test_a_refusal_of_another_value_of_the_type_keeps_the_trait() -> None:
    event = identify({"phone": "+12025550188"}, identifiers=(Identifier("phone", "+12025550123"),))
    kept, withheld = withhold_refused_traits(event, [Refused("phone", "+12025550123")], "e")
    assert kept is event and withheld == ()


def test_nothing_refused_or_nothing_of_the_traits_types_keeps_the_event() -> None:
    event = identify({"phone": "+12025550188", "email": None})
    assert withhold_refused_traits(event, [], "e") == (event, ())
    assert withhold_refused_traits(event, [Refused("user_id", "bob")], "e") == (event, ())
    # A removal (null) is no identifier: nothing to withhold.
    assert withhold_refused_traits(event, [Refused("email", "x@example.com")], "e") == (event, ())


def test_a_group_events_traits_are_the_groups() -> None:
    event = identify({"email": "team@example.com"}, type=EventType.GROUP, group_id="g1")
    assert withhold_refused_traits(event, [Refused("email", "team@example.com")], "e") == (
        event,
        (),
    )
