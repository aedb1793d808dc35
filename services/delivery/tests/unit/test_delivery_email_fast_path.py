"""The SMTP provider's fast path writes exactly what EmailMessage writes (Date,
Message-ID and the multipart boundary aside, which are new for every mail)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from aiosmtplib.email import quote_address
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.delivery.adapters.email_provider import _PLAIN_ADDRESS, SmtpEmailProvider, _flatten
from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.domain.model import Channel

_VARYING = (
    (re.compile(rb"Date: [^\r]*\r\n"), b"Date: D\r\n"),
    (re.compile(rb"Message-ID: <[^>]*>"), b"Message-ID: <M>"),
    (re.compile(rb"={15}\d{19}=="), b"BOUNDARY"),
)


def _normalised(raw: bytes) -> bytes:
    for pattern, replacement in _VARYING:
        raw = pattern.sub(replacement, raw)
    return raw


def _provider(email_from: str = "Rapport <noreply@example.com>") -> SmtpEmailProvider:
    return SmtpEmailProvider(host="127.0.0.1", port=1, email_from=email_from, timeout_seconds=1)


def _outgoing(**parts: object) -> OutgoingMessage:
    values: dict[str, object] = {
        "to": "ada@example.com",
        "subject": "Hello Ada",
        "text_body": "Hi Ada!",
        "html_body": "",
        "headers": {"X-Rapport-Message": "workspaces/default/messages/m1"},
        "channel": Channel.EMAIL,
        "message_name": "workspaces/default/messages/m1",
        "idempotency_key": "m1",
        "workspace": "default",
        "customer": "workspaces/default/customers/c1",
        "purpose": "marketing",
        "source": "",
        "data": {},
        "create_time": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(parts)
    return OutgoingMessage(**values)  # type: ignore[arg-type]


def _both(provider: SmtpEmailProvider, outgoing: OutgoingMessage) -> tuple[bytes | None, bytes]:
    fast = provider._fast_raw(outgoing)
    slow = _flatten(provider.build(outgoing))
    return (None if fast is None else fast[0]), slow


# Mostly what the fast path takes (printable ASCII, spaces, lines), and everything else.
_TEXT = st.one_of(
    st.text(st.sampled_from("ab Z.:<>=?-\n\t"), max_size=300),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(
    subject=_TEXT,
    text_body=_TEXT,
    html_body=st.one_of(st.just(""), st.none(), _TEXT),
    header=_TEXT,
    to=st.sampled_from(["ada@example.com", "a.b+c@x-y.example", "Ada <ada@example.com>", "é@x"]),
)
def test_the_fast_path_writes_what_email_message_writes(
    subject: str, text_body: str, html_body: str | None, header: str, to: str
) -> None:
    provider = _provider()
    outgoing = _outgoing(
        to=to,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        headers={"X-Rapport-Message": "workspaces/default/messages/m1", "List-Id": header},
    )
    try:
        fast, slow = _both(provider, outgoing)
    except (ValueError, UnicodeError):
        # EmailMessage cannot write it: the fast path never claims it can.
        assert provider._fast_raw(outgoing) is None
        return
    if fast is not None:
        assert _normalised(fast) == _normalised(slow)


@pytest.mark.parametrize(
    "outgoing",
    [
        _outgoing(),
        _outgoing(html_body="<p>Hi</p>\n<p>there</p>", text_body="Hi\n\nthere\n"),
        _outgoing(
            headers={
                "X-Rapport-Message": "workspaces/default/messages/m1",
                "List-Unsubscribe": "<https://example.com/u/abc>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        ),
    ],
)
def test_common_mails_take_the_fast_path(outgoing: OutgoingMessage) -> None:
    fast, slow = _both(_provider(), outgoing)
    assert fast is not None and _normalised(fast) == _normalised(slow)


@pytest.mark.parametrize(
    "outgoing",
    [
        _outgoing(subject="Grüße"),
        _outgoing(text_body="line\r\nbreak"),
        _outgoing(subject="=?utf-8?q?x?="),
        _outgoing(subject="two  spaces"),
        _outgoing(to="Ada <ada@example.com>"),
        _outgoing(headers={"Reply-To": "x@example.com"}),
        _outgoing(text_body="x" * 999),
    ],
)
def test_other_mails_go_through_email_message(outgoing: OutgoingMessage) -> None:
    provider = _provider()
    assert provider._fast_raw(outgoing) is None
    raw, message_id = provider.raw(outgoing)
    assert raw.startswith(b"From: Rapport <noreply@example.com>\r\n")
    assert message_id.encode() in raw


def test_a_sender_email_message_rewrites_is_never_on_the_fast_path() -> None:
    assert _provider('"Rapport, Inc." <noreply@example.com>')._fast_raw(_outgoing()) is not None
    assert _provider("Rapport Größe <noreply@example.com>")._fast_raw(_outgoing()) is None


@settings(max_examples=300)
@given(st.from_regex(_PLAIN_ADDRESS, fullmatch=True))
def test_a_plain_recipient_is_written_as_rcpt_would_write_it(address: str) -> None:
    # A kept session writes RCPT TO:<address> itself for a plain address: what
    # aiosmtplib's rcpt() would write after parsing it.
    assert quote_address(address) == f"<{address}>"
