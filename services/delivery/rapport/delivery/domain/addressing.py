"""Where to send: the address a profile (or, for webhooks, the workspace) gives a channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from .model import Channel, FailureReason

# FCM registration tokens are ~160 characters, APNs tokens 64 hex digits: this is generous.
MAX_PUSH_TOKEN_LENGTH = 4096
# Characters that would add a recipient or break out of an address header.
_UNSAFE_EMAIL = ',;<>"'


@dataclass(frozen=True)
class Addressing:
    """Which profile traits hold each channel's address, and the workspaces' webhook URLs."""

    email_trait: str = "email"
    phone_trait: str = "phone"
    push_token_trait: str = "push_token"
    # Region for phone numbers written without a country code; None: such numbers are invalid.
    default_phone_region: str | None = None
    # workspace id -> the URL its webhooks are POSTed to.
    webhook_urls: Mapping[str, str] = field(default_factory=dict)

    def recipient(
        self, channel: Channel, traits: Mapping[str, Any], *, workspace: str, customer: str
    ) -> str | FailureReason:
        """The address to send to on `channel`, or why there is none usable."""
        if channel is Channel.EMAIL:
            return email_address(traits, self.email_trait)
        if channel is Channel.SMS:
            return phone_number(traits, self.phone_trait, self.default_phone_region)
        if channel is Channel.PUSH:
            return push_token(traits, self.push_token_trait)
        if channel is Channel.WEBHOOK:
            return self.webhook_urls.get(workspace) or FailureReason.NO_ADDRESS
        if channel is Channel.IN_APP:
            # The inbox belongs to the customer: always reachable.
            return customer
        return FailureReason.NO_ADDRESS


def _trait_text(traits: Mapping[str, Any], trait: str) -> str | None:
    value = traits.get(trait)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def email_address(traits: Mapping[str, Any], trait: str = "email") -> str | FailureReason:
    """The trimmed email trait, or why there is none usable."""
    address = _trait_text(traits, trait)
    if address is None:
        return FailureReason.NO_ADDRESS
    local, at, domain = address.rpartition("@")
    # Refuse anything that could smuggle extra headers or recipients. Whitespace other
    # than the space is never printable, so these are whole-string checks, not per character.
    unsafe = not address.isprintable() or " " in address or any(c in address for c in _UNSAFE_EMAIL)
    if not at or not local or "." not in domain or domain.endswith(".") or unsafe:
        return FailureReason.INVALID_ADDRESS
    return address


def phone_number(
    traits: Mapping[str, Any], trait: str = "phone", default_region: str | None = None
) -> str | FailureReason:
    """The phone trait in E.164 (what SMS APIs take), or why there is none usable."""
    text = _trait_text(traits, trait)
    if text is None:
        return FailureReason.NO_ADDRESS
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return FailureReason.INVALID_ADDRESS
    if not phonenumbers.is_valid_number(number):
        return FailureReason.INVALID_ADDRESS
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def push_token(traits: Mapping[str, Any], trait: str = "push_token") -> str | FailureReason:
    """The device's push token, or why there is none usable."""
    token = _trait_text(traits, trait)
    if token is None:
        return FailureReason.NO_ADDRESS
    if len(token) > MAX_PUSH_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        return FailureReason.INVALID_ADDRESS
    return token
