"""ContactBudget counts one decision's send of one action once per limit, however many
channels it holds (a best-channel send holds each channel offered to delivery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rapport.decisioning.domain.contact_policy import Contact, ContactBudget
from rapport.decisioning.domain.model import Channel
from rapport.decisioning.domain.policies import ContactLimit

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WEEK = timedelta(days=7)
BOTH = ContactLimit((Channel.EMAIL, Channel.SMS), ("marketing",), 2, WEEK)
OFFER = "workspaces/default/actions/offer"


def contact(channel: Channel, decision: str, action: str = OFFER) -> Contact:
    return Contact(channel, "marketing", action, NOW - timedelta(hours=1), decision)


def test_a_send_holding_two_channels_counts_once() -> None:
    held = [contact(Channel.EMAIL, "d1"), contact(Channel.SMS, "d1")]
    assert ContactBudget([BOTH], held, NOW).blocking(Channel.EMAIL, "marketing") is None


def test_two_sends_count_twice() -> None:
    sends = [contact(Channel.EMAIL, "d1"), contact(Channel.SMS, "d2")]
    assert ContactBudget([BOTH], sends, NOW).blocking(Channel.EMAIL, "marketing") == BOTH


def test_two_actions_of_one_decision_count_twice() -> None:
    sends = [contact(Channel.EMAIL, "d1"), contact(Channel.SMS, "d1", action="other")]
    assert ContactBudget([BOTH], sends, NOW).blocking(Channel.SMS, "marketing") == BOTH


def test_contacts_without_a_decision_each_count() -> None:
    legacy = [contact(Channel.EMAIL, ""), contact(Channel.EMAIL, "")]
    assert ContactBudget([BOTH], legacy, NOW).blocking(Channel.SMS, "marketing") == BOTH
