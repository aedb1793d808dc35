"""Where to send: the address a profile gives for a channel."""

from __future__ import annotations

from typing import Any

from .model import FailureReason


def email_address(traits: dict[str, Any]) -> str | FailureReason:
    """The trimmed `email` trait, or why there is none usable."""
    value = traits.get("email")
    if not isinstance(value, str) or not value.strip():
        return FailureReason.NO_ADDRESS
    address = value.strip()
    local, at, domain = address.rpartition("@")
    # Refuse anything that could smuggle extra headers or recipients.
    unsafe = any(c.isspace() or not c.isprintable() or c in ',;<>"' for c in address)
    if not at or not local or "." not in domain or domain.endswith(".") or unsafe:
        return FailureReason.INVALID_ADDRESS
    return address
