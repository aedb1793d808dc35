"""One-click unsubscribe (RFC 8058): signed tokens naming workspace, customer, channel
and purpose, the links built from them, and what a marketing email carries.

A token is ``base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload))``: anyone
can read it (it holds ids, no address), nobody can make one without the key. It is
good for ``ttl`` after it was issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .model import Channel

# RFC 8058: the body a mail client POSTs to the List-Unsubscribe URL.
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
# Clocks of replicas may differ a little: a token "issued" slightly ahead still counts.
_SKEW = timedelta(minutes=5)
_MAX_TOKEN_CHARS = 2048
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenMalformed(ValueError):
    """Not a token at all (400)."""


class TokenRefused(ValueError):
    """A token this deployment did not sign, or one that expired (403)."""


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# json.dumps with options builds an encoder per call: built once (the same text).
_compact_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


class UnsubscribeTokens:
    def __init__(self, key: bytes, ttl: timedelta) -> None:
        if not key:
            raise ValueError("the unsubscribe key must not be empty")
        # Its own key, whatever else the secret is used for.
        self._key = hmac.new(key, b"rapport.delivery.unsubscribe.v1", hashlib.sha256).digest()
        self._ttl = ttl

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, subject: Unsubscribe) -> str:
        payload = _compact_sorted(
            {
                "w": subject.workspace,
                "c": subject.customer_id,
                "ch": subject.channel.value,
                "p": subject.purpose,
                "m": subject.message_id,
                "t": int(subject.issue_time.timestamp()),
            }
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def read(self, token: str, now: datetime) -> Unsubscribe:
        """The token's subject; TokenMalformed or TokenRefused (forged, expired)."""
        if len(token) > _MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
            raise TokenMalformed("not an unsubscribe token")
        encoded, signature = token.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError):
            raise TokenMalformed("not an unsubscribe token") from None
        if not hmac.compare_digest(given, self._sign(payload)):
            raise TokenRefused("the token's signature does not match")
        try:
            fields = json.loads(payload)
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
    closing = html_body.lower().rfind("</body>")
    if closing == -1:
        return f"{html_body}\n{link}"
    return f"{html_body[:closing]}{link}\n{html_body[closing:]}"


def recipient_key(key: bytes, channel: Channel, address: str) -> str:
    """A keyed hash of an address: finds the messages sent to a number that replied
    STOP without storing a searchable plain address."""
    derived = hmac.new(key, b"rapport.delivery.recipient.v1", hashlib.sha256).digest()
    return hmac.new(derived, f"{channel.value}:{address}".encode(), hashlib.sha256).hexdigest()
