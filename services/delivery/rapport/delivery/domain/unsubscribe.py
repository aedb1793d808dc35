"""One-click unsubscribe (RFC 8058): signed tokens naming workspace, customer, channel
and purpose, the links built from them, and what a marketing email carries.

A token (signed_tokens.py) is good for ``ttl`` after it was issued.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .html_links import append_to_body
from .model import Channel
from .signed_tokens import SignedTokens, TokenMalformed, TokenRefused

__all__ = [
    "ONE_CLICK_BODY",
    "TokenMalformed",
    "TokenRefused",
    "Unsubscribe",
    "UnsubscribeTokens",
    "html_with_link",
    "list_unsubscribe_headers",
    "recipient_key",
    "text_with_link",
    "unsubscribe_url",
]

# RFC 8058: the body a mail client POSTs to the List-Unsubscribe URL.
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
# Clocks of replicas may differ a little: a token "issued" slightly ahead still counts.
_SKEW = timedelta(minutes=5)
_MAX_TOKEN_CHARS = 2048


@dataclass(frozen=True)
class Unsubscribe:
    """What an unsubscribe token names."""

    workspace: str
    customer_id: str
    channel: Channel
    purpose: str
    # The message whose link it is (for the record's proof).
    message_id: str
    issue_time: datetime


class UnsubscribeTokens:
    def __init__(self, key: bytes, ttl: timedelta) -> None:
        self._tokens = SignedTokens(
            key,
            b"rapport.delivery.unsubscribe.v1",
            what="an unsubscribe token",
            max_chars=_MAX_TOKEN_CHARS,
        )
        self._ttl = ttl

    def issue(self, subject: Unsubscribe) -> str:
        return self._tokens.issue(
            {
                "w": subject.workspace,
                "c": subject.customer_id,
                "ch": subject.channel.value,
                "p": subject.purpose,
                "m": subject.message_id,
                "t": int(subject.issue_time.timestamp()),
            }
        )

    def read(self, token: str, now: datetime) -> Unsubscribe:
        """The token's subject; TokenMalformed or TokenRefused (forged, expired)."""
        fields = self._tokens.read(token)
        try:
            issued = datetime.fromtimestamp(int(fields["t"]), tz=now.tzinfo)
            subject = Unsubscribe(
                workspace=str(fields["w"]),
                customer_id=str(fields["c"]),
                channel=Channel(fields["ch"]),
                purpose=str(fields["p"]),
                message_id=str(fields["m"]),
                issue_time=issued,
            )
        except (ValueError, KeyError, TypeError, OverflowError, OSError):
            # Signed by us but unreadable: a token of another version's format.
            raise TokenMalformed("not an unsubscribe token") from None
        if issued > now + _SKEW or issued + self._ttl < now:
            raise TokenRefused("the token expired")
        return subject


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/v1/unsubscribe/{token}"


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058: the HTTPS link, and that one POST is enough."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK_BODY}


def text_with_link(text_body: str, url: str) -> str:
    return f"{text_body.rstrip()}\n\n--\nUnsubscribe: {url}\n"


def html_with_link(html_body: str, url: str) -> str:
    """The link as a paragraph at the end of the body (inside </body> when there is one)."""
    link = (
        f'<p style="font-size:small"><a href="{html.escape(url, quote=True)}">Unsubscribe</a></p>'
    )
    return append_to_body(html_body, link)


def recipient_key(key: bytes, channel: Channel, address: str) -> str:
    """A keyed hash of an address: finds the messages sent to a number that replied
    STOP without storing a searchable plain address."""
    derived = hmac.new(key, b"rapport.delivery.recipient.v1", hashlib.sha256).digest()
    return hmac.new(derived, f"{channel.value}:{address}".encode(), hashlib.sha256).hexdigest()


def stop_subjects(
    sent: Sequence[tuple[str, str, str]],
    workspaces: Collection[str],
    transactional_purposes: Collection[str],
) -> list[tuple[str, str, str]]:
    """(workspace, customer id, purpose) an SMS STOP opts out of on SMS, once each: every
    purpose the number got SMS for (`sent`, in served `workspaces`), then every
    transactional purpose of the same customers. Carriers require STOP to end all
    messages, and a transactional purpose with nothing recorded would still be sent
    (domain/consent.py)."""
    customers = dict.fromkeys((w, c) for w, c, _ in sent if w in workspaces)
    subjects = [(w, c, p) for w, c, p in sent if (w, c) in customers]
    subjects += [(w, c, p) for w, c in customers for p in sorted(transactional_purposes)]
    return list(dict.fromkeys(subjects))
