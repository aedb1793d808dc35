"""Checks of SendMessage input; each failure names the offending request field."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from rapport.errors import InvalidArgument, RapportError

from . import rendering
from .erased_keys import ERASED_KEY_PREFIX, is_erased_key
from .model import Channel, MessageContent

MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_SOURCE_LENGTH = 1000
# Templates, in characters: a subject is one header line; bodies are whole messages.
MAX_SUBJECT_LENGTH = 1000
MAX_BODY_LENGTH = 256 * 1024
# Template data, in bytes once serialised (protobuf wire format).
MAX_DATA_BYTES = 64 * 1024
PURPOSE_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
# Requests of one BatchSendMessages at most (AIP-233 batches go up to 1,000).
MAX_BATCH_SEND = 1000


def validate_batch_size(count: int, *, field: str = "requests") -> None:
    if count < 1:
        raise InvalidArgument(field, "must hold at least one request")
    if count > MAX_BATCH_SEND:
        raise InvalidArgument(field, f"holds {count} requests; at most {MAX_BATCH_SEND:,}")


def in_batch(err: RapportError, index: int, *, field: str = "requests") -> RapportError:
    """`err`, raised for one request of a batch, as the batch's error: an InvalidArgument
    names the request's field (`requests[2].customer`), any other error carries the
    request's position as metadata `request_index`."""
    if isinstance(err, InvalidArgument):
        path = f"{field}[{index}].{err.field}" if err.field else f"{field}[{index}]"
        return InvalidArgument(path, err.description, err.reason)
    err.metadata["request_index"] = str(index)
    return err


def validate_idempotency_key(key: str, *, field: str = "idempotency_key") -> None:
    if not key:
        raise InvalidArgument(field, "is required")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    if not key.isprintable():
        raise InvalidArgument(field, "must contain only printable characters")
    if is_erased_key(key):
        # Reserved for the digests erasure leaves: one could otherwise collide with them.
        raise InvalidArgument(field, f"must not start with {ERASED_KEY_PREFIX!r} (reserved)")


def validate_purpose(purpose: str, *, field: str = "purpose") -> None:
    if not purpose:
        raise InvalidArgument(field, "is required")
    if PURPOSE_RE.fullmatch(purpose) is None:
        raise InvalidArgument(
            field, "must be lower-case letters, digits, '_', '-' or '.', starting with a letter"
        )


def require_send_channel(channel: Channel | None, *, field: str = "channel") -> Channel:
    """A channel messages are sent on; None means unset."""
    if channel is None:
        raise InvalidArgument(field, "is required")
    if channel is Channel.INBOUND:
        raise InvalidArgument(field, "CHANNEL_INBOUND is not a channel messages are sent on")
    return channel


# The templates each channel cannot do without (what each sends: delivery_service.proto,
# SendMessageRequest.content). Webhooks need none: the data alone may be the point.
REQUIRED_CONTENT: dict[Channel, tuple[str, ...]] = {
    Channel.EMAIL: ("subject", "text_body"),
    Channel.SMS: ("text_body",),
    Channel.PUSH: ("text_body",),
    Channel.IN_APP: ("text_body",),
    Channel.WEBHOOK: (),
}
_CHANNEL_WORDS = {
    Channel.EMAIL: "email",
    Channel.SMS: "SMS",
    Channel.PUSH: "push",
    Channel.IN_APP: "in-app messages",
    Channel.WEBHOOK: "webhooks",
}


def content_given(content: MessageContent) -> bool:
    return bool(content.subject or content.text_body or content.html_body)


def can_carry(content: MessageContent, channel: Channel) -> bool:
    """Whether `content` has every part `channel` cannot do without."""
    return all(getattr(content, name).strip() for name in REQUIRED_CONTENT.get(channel, ()))


def validate_content(
    content: MessageContent, channel: Channel | None, *, field: str = "content"
) -> None:
    """Templates are bounded and parse in the sandbox; each channel has the ones it needs."""
    for name, value, limit in (
        ("subject", content.subject, MAX_SUBJECT_LENGTH),
        ("text_body", content.text_body, MAX_BODY_LENGTH),
        ("html_body", content.html_body, MAX_BODY_LENGTH),
    ):
        if len(value) > limit:
            raise InvalidArgument(f"{field}.{name}", f"must be at most {limit} characters")
    for name in REQUIRED_CONTENT.get(channel, ()) if channel is not None else ():
        if not getattr(content, name).strip():
            raise InvalidArgument(f"{field}.{name}", f"is required for {_CHANNEL_WORDS[channel]}")
    for name, value, html in (
        ("subject", content.subject, False),
        ("text_body", content.text_body, False),
        ("html_body", content.html_body, True),
    ):
        if value and (problem := rendering.template_syntax_error(value, html=html)):
            raise InvalidArgument(f"{field}.{name}", problem)


def validate_data(data: Mapping[str, Any], *, field: str = "data") -> None:
    """Template data are JSON values: numbers must be finite.

    Requests are converted by rapport.wellknowntypes, which already refuses NaN and
    Infinity naming their path; this guards commands built any other way (the
    payload fingerprint cannot hold such numbers).
    """

    def check(value: Any) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument(field, "numbers must be finite (no NaN or infinity)")
        if isinstance(value, Mapping):
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    check(data)


def validate_source(source: str, *, field: str = "source") -> None:
    if len(source) > MAX_SOURCE_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_SOURCE_LENGTH} characters")
    if source and not source.isprintable():
        raise InvalidArgument(field, "must contain only printable characters")


# Push providers refuse data keys they use themselves (FCM: `from`, `message_type`,
# `notification`, and any key starting with `google` or `gcm`).
_PUSH_RESERVED_KEYS = frozenset({"from", "message_type", "notification"})
_PUSH_RESERVED_PREFIXES = ("google", "gcm")


def validate_data_for_channel(
    data: Mapping[str, Any], channel: Channel, *, field: str = "data"
) -> None:
    """What a channel's providers would refuse in `data`, refused up front instead."""
    if channel is not Channel.PUSH:
        return
    for key in data:
        if key in _PUSH_RESERVED_KEYS or key.lower().startswith(_PUSH_RESERVED_PREFIXES):
            raise InvalidArgument(f"{field}.{key}", "is a key push providers reserve")
