"""Webhooks: an HTTPS POST of a JSON body signed per the Standard Webhooks convention.

Headers: `webhook-id` (the message id: the same on every retry, so the receiver
can drop duplicates), `webhook-timestamp` (this attempt, integer seconds since
the epoch) and `webhook-signature`: `v1,` then the base64 of HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}`, keyed with the workspace's secret
(`whsec_` then base64 of 24 to 64 random bytes). The body is signed exactly as
sent (compact JSON, UTF-8). The payload follows the spec's recommended shape:
`{"type": "message.sent", "timestamp": <the message's create_time>, "data": {...}}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .http_provider import HttpClient, HttpProvider
from .providers import OutgoingMessage, ProviderUnavailable

SECRET_PREFIX = "whsec_"
EVENT_TYPE = "message.sent"
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64

# json.dumps with options builds an encoder per call: built once (the same text).
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is base64 after its prefix") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value (one `v1` signature)."""
    signed = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def payload(outgoing: OutgoingMessage) -> bytes:
    data: dict[str, Any] = {
        "message": outgoing.message_name,
        "customer": outgoing.customer,
        "purpose": outgoing.purpose,
        "source": outgoing.source,
    }
    for field, value in (
        ("subject", outgoing.subject),
        ("text_body", outgoing.text_body),
        ("html_body", outgoing.html_body),
    ):
        if value:
            data[field] = value
    data["data"] = dict(outgoing.data)
    created = outgoing.create_time or datetime.now(UTC)
    event = {
        "type": EVENT_TYPE,
        "timestamp": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return _compact(event).encode()


class WebhookProvider(HttpProvider):
    kind = "webhook"

    def __init__(
        self,
        *,
        client: HttpClient,
        secrets: Mapping[str, str],
        name: str = "webhook",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        # Receivers are asked to drop repeats of a webhook-id, but nothing makes them.
        super().__init__(name=name, client=client, honours_idempotency_key=False)
        self._keys = {workspace: decode_secret(secret) for workspace, secret in secrets.items()}
        self._clock = clock or (lambda: datetime.now(UTC))

    async def send(self, outgoing: OutgoingMessage) -> str:
        key = self._keys.get(outgoing.workspace)
        if key is None:
            # Configuration changed under a queued message: it waits for a secret.
            raise ProviderUnavailable("webhook no secret", proves_not_taken=False)
        webhook_id = outgoing.idempotency_key
        timestamp = int(self._clock().timestamp())
        body = payload(outgoing)
        await self._post(
            outgoing.to,
            headers={
                "content-type": "application/json",
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(key, webhook_id, timestamp, body),
            },
            body=body,
        )
        return webhook_id
