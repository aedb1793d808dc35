"""Delivery's status events as outcome types, conversion values (pure)."""

from __future__ import annotations

import pytest
from rapport.decisioning.domain.model import OutcomeType, TrackedEvent
from rapport.decisioning.service_layer.attribution import conversion_value, status_outcome

MESSAGE = "workspaces/default/messages/m1"


def event(name: str, **properties) -> TrackedEvent:
    return TrackedEvent("track", name, "e1", properties, {})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Email Sent", OutcomeType.SENT),
        ("Email Delivered", OutcomeType.DELIVERED),
        ("SMS Delivered", OutcomeType.DELIVERED),
        ("Push Opened", OutcomeType.OPENED),
        ("Email Clicked", OutcomeType.CLICK),
        ("Email Bounced", OutcomeType.BOUNCED),
        ("Email Soft Bounced", OutcomeType.BOUNCED),
        ("In-App Message Delivered", OutcomeType.DELIVERED),
        ("Webhook Failed", OutcomeType.BOUNCED),
        ("Email Complained", OutcomeType.REJECT),
        ("Email Suppressed", None),
        ("SMS Capped", None),
        ("Fax Delivered", None),
        ("Email delivered", None),
    ],
)
def test_status_events_of_delivery(name, expected):
    found = status_outcome(event(name, message=MESSAGE))
    assert (found[0] if found else None) == expected
    if found:
        assert found[1] == MESSAGE


def test_a_status_event_without_a_message_is_none():
    assert status_outcome(event("Email Delivered")) is None
    assert status_outcome(event("Email Delivered", message=7)) is None


def test_conversion_values():
    assert conversion_value(event("Policy Renewed", value=120.5)) == 120.5
    assert conversion_value(event("Policy Renewed", revenue=3)) == 3.0
    for bad in (-1.0, float("nan"), float("inf"), 2e12, True, "12"):
        assert conversion_value(event("Policy Renewed", value=bad)) == 0.0
