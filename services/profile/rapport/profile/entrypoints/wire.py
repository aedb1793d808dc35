"""Responses assembled from messages already serialized (the profile cache keeps
profiles as bytes): protobuf's wire format for a repeated message field."""

from __future__ import annotations

from collections.abc import Iterable

_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def repeated_message_field(number: int, messages: Iterable[bytes]) -> bytes:
    """The bytes of `repeated <Message> field = number` holding ``messages`` (each one
    serialized), in order: a message whose other fields are unset."""
    tag = _varint(number << 3 | _LENGTH_DELIMITED)
    parts = []
    for message in messages:
        parts += (tag, _varint(len(message)), message)
    return b"".join(parts)
