"""Rules every consent input must pass before anything is read or written.

Each rule raises InvalidArgument naming the request field it was given.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from rapport.consent.domain.model import Channel, ConsentState
from rapport.errors import InvalidArgument

PURPOSE_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
MAX_SOURCE_CHARS = 100
MAX_NOTICE_VERSION_CHARS = 200
MAX_PROOF_CHARS = 1000
MAX_BATCH_CHECKS = 1000
# Clocks of capture systems drift; a decision far in the future is a mistake, not a plan.
MAX_FUTURE_EFFECTIVE_TIME = timedelta(minutes=5)


def validate_purpose(purpose: str, field: str) -> str:
    if not purpose:
        raise InvalidArgument(field, "is required")
    if not PURPOSE_PATTERN.fullmatch(purpose):
        raise InvalidArgument(
            field,
            "must start with a lower-case letter and contain only lower-case letters, "
            "digits, '_', '-' and '.' (at most 64 characters)",
        )
    return purpose


def validate_channel(channel: Channel, field: str) -> Channel:
    """A channel consent can be about: one that messages are sent on."""
    if channel is Channel.INBOUND:
        raise InvalidArgument(
            field,
            "CHANNEL_INBOUND is refused: nothing is sent on it, so there is no "
            "permission to record or check",
        )
    return channel


def require_channel(channel: Channel | None, field: str) -> Channel:
    if channel is None:
        raise InvalidArgument(field, "is required")
    return validate_channel(channel, field)


def require_state(state: ConsentState | None, field: str) -> ConsentState:
    if state is None:
        raise InvalidArgument(field, "is required")
    return state


def validate_batch_size(count: int, field: str) -> None:
    if count > MAX_BATCH_CHECKS:
        raise InvalidArgument(field, f"must hold at most {MAX_BATCH_CHECKS} checks")


def validate_text(value: str, field: str, *, max_chars: int, required: bool = False) -> str:
    if required and not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > max_chars:
        raise InvalidArgument(field, f"must be at most {max_chars} characters")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL: refused on every backend alike
        raise InvalidArgument(field, "must not contain NUL characters")
    return value


def effective_time_or_default(
    effective_time: datetime | None, record_time: datetime, field: str
) -> datetime:
    if effective_time is None:
        return record_time
    if effective_time > record_time + MAX_FUTURE_EFFECTIVE_TIME:
        raise InvalidArgument(
            field,
            "must not be more than "
            f"{int(MAX_FUTURE_EFFECTIVE_TIME.total_seconds() // 60)} minutes in the future",
        )
    return effective_time
