"""Signed tokens for delivery's links (unsubscribe, open and click tracking).

A token is ``base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload))``: anyone
can read it (it holds ids, no address), nobody can make one without the key. Each use
derives its own key from the one secret, so a token of one kind never passes as another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenMalformed(ValueError):
    """Not a token at all (400)."""


class TokenRefused(ValueError):
    """A token this deployment did not sign, or one that expired (403)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# json.dumps with options builds an encoder per call: built once (the same text).
_compact_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


class SignedTokens:
    """Issues and reads the tokens of one use (`purpose`, e.g.
    b"rapport.delivery.unsubscribe.v1") under `secret`."""

    def __init__(self, secret: bytes, purpose: bytes, *, what: str, max_chars: int) -> None:
        if not secret:
            raise ValueError("the signing secret must not be empty")
        # Its own key, whatever else the secret is used for.
        self._key = hmac.new(secret, purpose, hashlib.sha256).digest()
        self._what = what
        self._max_chars = max_chars

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, fields: Mapping[str, Any]) -> str:
        payload = _compact_sorted(dict(fields)).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def read(self, token: str) -> dict[str, Any]:
        """The signed fields; TokenMalformed (not a token, or not a JSON object) or
        TokenRefused (a signature this key did not make)."""
        malformed = f"not {self._what}"
        if len(token) > self._max_chars or not _TOKEN.fullmatch(token):
            raise TokenMalformed(malformed)
        encoded, signature = token.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError):
            raise TokenMalformed(malformed) from None
        if _b64(payload) != encoded or _b64(given) != signature:
            # Unused low bits set in a last character: not how issue() wrote it, so
            # each token has one spelling.
            raise TokenMalformed(malformed)
        if not hmac.compare_digest(given, self._sign(payload)):
            raise TokenRefused("the token's signature does not match")
        try:
            fields = json.loads(payload)
        except (ValueError, RecursionError):
            # Signed by us but unreadable: a token of another version's format.
            raise TokenMalformed(malformed) from None
        if not isinstance(fields, dict):
            raise TokenMalformed(malformed)
        return fields
