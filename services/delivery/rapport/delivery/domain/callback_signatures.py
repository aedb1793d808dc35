"""Signatures of provider callbacks.

- Twilio (``X-Twilio-Signature``): base64 of HMAC-SHA1, keyed with the account's auth
  token, over the full URL Twilio requested followed by each POST parameter's name and
  value, parameters sorted by name (values of a repeated name sorted too).
- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``):
  base64 of HMAC-SHA256, keyed with the shared secret, over ``id.timestamp.body``;
  the header holds space-separated ``v1,<signature>`` entries; the timestamp must be
  within the tolerance of now (replays of old requests are refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

TOLERANCE = timedelta(minutes=5)


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    pairs = sorted(set(params))
    payload = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str
) -> bool:
    expected = twilio_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def standard_webhook_signature(secret: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def standard_webhook_valid(
    secret: bytes,
    *,
    webhook_id: str,
    timestamp: str,
    signatures: str,
    body: bytes,
    now: datetime,
) -> bool:
    """Whether one of the `v1,` signatures matches and the timestamp is fresh."""
    if not webhook_id or len(webhook_id) > 256 or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    sent = int(timestamp)
    if abs(now.timestamp() - sent) > TOLERANCE.total_seconds():
        return False
    expected = standard_webhook_signature(secret, webhook_id, timestamp, body).encode()
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split()
        if candidate.startswith("v1,")
    )
