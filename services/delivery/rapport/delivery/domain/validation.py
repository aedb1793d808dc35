"""Checks of SendMessage input; each failure names the offending request field."""

from __future__ import annotations

import re

from rapport.errors import InvalidArgument

from .model import Channel

MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_SOURCE_LENGTH = 1000
PURPOSE_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


def validate_idempotency_key(key: str, *, field: str = "idempotency_key") -> None:
    if not key:
        raise InvalidArgument(field, "is required")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    if not key.isprintable():
        raise InvalidArgument(field, "must contain only printable characters")


def validate_purpose(purpose: str, *, field: str = "purpose") -> None:
    if not purpose:
        raise InvalidArgument(field, "is required")
    if PURPOSE_RE.fullmatch(purpose) is None:
        raise InvalidArgument(
            field, "must be lower-case letters, digits, '_', '-' or '.', starting with a letter"
        )


def parse_channel(value: str, *, field: str = "channel") -> Channel:
    """`value` is the enum's name without prefix (EMAIL...); empty means unset."""
    if not value or value == "UNSPECIFIED":
        raise InvalidArgument(field, "is required")
    try:
        return Channel(value)
    except ValueError:
        raise InvalidArgument(field, "is not a known channel") from None


def validate_source(source: str, *, field: str = "source") -> None:
    if len(source) > MAX_SOURCE_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_SOURCE_LENGTH} characters")
    if source and not source.isprintable():
        raise InvalidArgument(field, "must contain only printable characters")
