"""The closed loop's pure parts: unsubscribe tokens, callback signatures, provider events
on a message, the profile events status changes make, what a consent answer allows and
what an SMS STOP opts out of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.delivery.domain import consent, status, unsubscribe
from rapport.delivery.domain.callback_signatures import (
    standard_webhook_signature,
    standard_webhook_valid,
    twilio_signature,
    twilio_signature_valid,
)
from rapport.delivery.domain.model import Channel, Message, MessageContent, MessageState
from rapport.delivery.domain.status import EventOutcome, ProviderEvent
from rapport.delivery.domain.unsubscribe import (
    TokenMalformed,
    TokenRefused,
    Unsubscribe,
    UnsubscribeTokens,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TOKENS = UnsubscribeTokens(b"secret", timedelta(days=180))
SUBJECT = Unsubscribe("default", "c0ffee", Channel.EMAIL, "marketing", "m1", NOW)


def test_a_token_names_what_it_was_issued_for() -> None:
    assert TOKENS.read(TOKENS.issue(SUBJECT), NOW + timedelta(days=179)) == SUBJECT


def test_expired_future_and_foreign_tokens_are_refused() -> None:
    token = TOKENS.issue(SUBJECT)
    with pytest.raises(TokenRefused):
        TOKENS.read(token, NOW + timedelta(days=181))
    with pytest.raises(TokenRefused):
        TOKENS.read(token, NOW - timedelta(hours=1))
    with pytest.raises(TokenRefused):
        UnsubscribeTokens(b"other", timedelta(days=180)).read(token, NOW)


@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw_-9z"))
def test_any_changed_character_is_refused(position: int, replacement: str) -> None:
    token = TOKENS.issue(SUBJECT)
    index = position % len(token)
    if token[index] in (replacement, "."):
        return
    changed = token[:index] + replacement + token[index + 1 :]
    with pytest.raises((TokenRefused, TokenMalformed)):
        TOKENS.read(changed, NOW)


@given(st.text(max_size=300))
def test_arbitrary_text_is_never_accepted(text: str) -> None:
    with pytest.raises((TokenRefused, TokenMalformed)):
        TOKENS.read(text, NOW)


def test_the_link_goes_at_the_end_of_both_bodies() -> None:
    url = "https://d.example/v1/unsubscribe/a.b"
    assert unsubscribe.text_with_link("Hi\n", url) == f"Hi\n\n--\nUnsubscribe: {url}\n"
    html = unsubscribe.html_with_link("<html><body><p>Hi</p></BODY></html>", url)
    assert html.index('<a href="https://d.example/v1/unsubscribe/a.b">') < html.index("</BODY>")
    assert unsubscribe.list_unsubscribe_headers(url) == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_twilio_signature_matches_twilios_documented_example() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature_valid("12345", url, params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not twilio_signature_valid(
        "12345", url + "&x=1", params.items(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


def test_standard_webhook_signatures_are_checked_with_their_timestamp() -> None:
    stamp = str(int(NOW.timestamp()))
    good = standard_webhook_signature(b"k" * 32, "evt", stamp, b"{}")
    check = dict(webhook_id="evt", timestamp=stamp, body=b"{}")
    assert standard_webhook_valid(b"k" * 32, signatures=f"v1,bad {good}", now=NOW, **check)
    assert not standard_webhook_valid(
        b"k" * 32, signatures=good, now=NOW + timedelta(hours=1), **check
    )
    assert not standard_webhook_valid(b"x" * 32, signatures=good, now=NOW, **check)
    assert not standard_webhook_valid(
        b"k" * 32, signatures=good, now=NOW, webhook_id="evt", timestamp="-1", body=b"{}"
    )


def _sent() -> Message:
    message = Message.queue(
        id="m1",
        workspace="default",
        customer_id="c0ffee",
        purpose="marketing",
        channel=Channel.EMAIL,
        idempotency_key="k",
        content=MessageContent("s", "t"),
        data={},
        source="",
        now=NOW,
    )
    message.mark_sent("smtp", "<1@x>", NOW)
    message.changes.clear()
    return message


def _apply(
    message: Message, event: ProviderEvent, recorded: frozenset[str] = frozenset()
) -> status.Applied:
    return status.apply_provider_event(
        message, event, time=NOW, reason="r", reporter="smtp", recorded=recorded
    )


def test_provider_events_move_a_sent_message() -> None:
    message = _sent()
    assert _apply(message, ProviderEvent.DELIVERED).outcome is EventOutcome.APPLIED
    assert message.state is MessageState.DELIVERED and message.delivery_time == NOW
    applied = _apply(message, ProviderEvent.BOUNCED)
    assert (applied.outcome, applied.opt_out_source) == (EventOutcome.APPLIED, "bounce")
    assert (message.state, message.failure_reason) == (MessageState.BOUNCED, "BOUNCED")
    # Undelivered after a hard bounce stays a bounce.
    _apply(message, ProviderEvent.FAILED)
    assert message.state is MessageState.BOUNCED
    assert [c.status for c in message.changes] == ["DELIVERED", "BOUNCED", "FAILED"]
    complaint = _apply(_sent(), ProviderEvent.COMPLAINED)
    assert complaint.opt_out_source == "complaint"


def test_each_kind_once_and_never_on_an_unsent_message() -> None:
    message = _sent()
    assert (
        _apply(message, ProviderEvent.OPENED, frozenset({"OPENED"})).outcome
        is EventOutcome.DUPLICATE
    )
    assert message.changes == [] and message.open_time is None
    queued = _sent()
    queued.state = MessageState.QUEUED
    assert _apply(queued, ProviderEvent.DELIVERED).outcome is EventOutcome.NOT_APPLICABLE
    erased = _sent()
    erased.erase_time = NOW
    assert _apply(erased, ProviderEvent.DELIVERED).outcome is EventOutcome.NOT_APPLICABLE


def test_profile_event_names() -> None:
    assert status.event_name(Channel.EMAIL, "DELIVERED") == "Email Delivered"
    assert status.event_name(Channel.SMS, "SOFT_BOUNCED") == "SMS Soft Bounced"
    assert status.event_name(Channel.IN_APP, "SENT") == "In-App Message Sent"
    assert status.event_name(Channel.EMAIL, "QUEUED") is None
    assert status.event_name(None, "SENT") is None


def test_identifiers_come_from_configured_string_traits() -> None:
    traits = {"email": " a@b.c ", "phone": 5, "user_id": ""}
    assert status.identifiers_from(
        traits, {"email": "email", "phone": "phone", "user_id": "user_id"}
    ) == (("email", "a@b.c"),)


def _early(event: ProviderEvent, seconds: float, received: float = 0.0) -> status.EarlyEvent:
    return status.EarlyEvent(
        event,
        NOW + timedelta(seconds=seconds),
        "r",
        "smtp",
        receive_time=NOW + timedelta(seconds=received),
    )


def test_held_events_apply_in_provider_time_order_never_before_the_send() -> None:
    message = _sent()
    message.send_time = message.update_time = NOW + timedelta(seconds=10)
    results = status.apply_early_events(
        message,
        [
            _early(ProviderEvent.BOUNCED, 12),
            # Reported before the send was recorded: recorded at the send time.
            _early(ProviderEvent.DELIVERED, 5),
            _early(ProviderEvent.DELIVERED, 6, received=1),  # the provider's retry
        ],
    )
    assert [(early.event, applied.outcome) for early, applied in results] == [
        (ProviderEvent.DELIVERED, EventOutcome.APPLIED),
        (ProviderEvent.DELIVERED, EventOutcome.DUPLICATE),
        (ProviderEvent.BOUNCED, EventOutcome.APPLIED),
    ]
    assert [(c.status, c.time - NOW) for c in message.changes] == [
        ("DELIVERED", timedelta(seconds=10)),
        ("BOUNCED", timedelta(seconds=12)),
    ]
    assert message.state is MessageState.BOUNCED and results[2][1].opt_out_source == "bounce"


def test_events_are_held_only_while_a_provider_may_have_the_message() -> None:
    message = _sent()
    assert not status.awaits_provider(message)
    message.state = MessageState.SENDING
    assert status.awaits_provider(message)
    message.state = MessageState.QUEUED
    assert not status.awaits_provider(message)  # never attempted: no provider has it
    message.ambiguous_provider = "smtp"
    assert status.awaits_provider(message)
    message.erase_time = NOW
    assert not status.awaits_provider(message)


def test_a_transactional_purpose_needs_no_record_but_honours_a_denial() -> None:
    answers = list(consent.ConsentAnswer)
    assert [consent.allows(a, transactional=False) for a in answers] == [True, False, False]
    assert [consent.allows(a, transactional=True) for a in answers] == [True, False, True]
    assert [consent.sent_reason(a, transactional=True) for a in answers] == [
        "",
        "",
        "TRANSACTIONAL_NO_CONSENT_RECORD",
    ]
    assert consent.sent_reason(consent.ConsentAnswer.NO_RECORD, transactional=False) == ""


def test_a_stop_opts_out_of_every_purpose_sent_and_every_transactional_one() -> None:
    sent = [
        ("default", "c1", "marketing"),
        ("default", "c1", "receipts"),
        ("default", "c2", "news"),
        ("other", "c3", "marketing"),  # a workspace this deployment does not serve
    ]
    assert unsubscribe.stop_subjects(sent, {"default"}, {"receipts", "resets"}) == [
        ("default", "c1", "marketing"),
        ("default", "c1", "receipts"),
        ("default", "c2", "news"),
        ("default", "c1", "resets"),
        ("default", "c2", "receipts"),
        ("default", "c2", "resets"),
    ]
