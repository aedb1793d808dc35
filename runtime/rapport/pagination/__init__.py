"""AIP-158 pagination: page sizes and opaque page tokens.

A token records where the next page starts and is bound to the request that made it
(parent, filters), so a token replayed with different parameters is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from rapport.errors import InvalidArgument

__all__ = ["decode_page_token", "encode_page_token", "page_size"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int, *, field: str = "page_size") -> int:
    """0 means the default; values above the maximum are clamped; negatives are refused."""
    if requested < 0:
        raise InvalidArgument(field, "must not be negative")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def _binding(bound_to: str) -> str:
    return hashlib.sha256(bound_to.encode()).hexdigest()[:16]


def encode_page_token(position: dict[str, Any], *, bound_to: str) -> str:
    """Opaque token for the page starting at `position` of the request described by bound_to."""
    raw = json.dumps({"p": position, "b": _binding(bound_to)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(
    token: str, *, bound_to: str, field: str = "page_token"
) -> dict[str, Any] | None:
    """The position a token encodes; None for an empty token (the first page)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, binding = data["p"], data["b"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(field, "is not a token returned by this method") from exc
    if binding != _binding(bound_to) or not isinstance(position, dict):
        raise InvalidArgument(field, "belongs to a request with other parameters")
    return position
