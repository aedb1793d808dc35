"""What decisioning asks of profile, consent and delivery, and how such a call fails.

Plain values shared by the service layer's client ports and the adapters that
implement them (over gRPC, or in memory in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Channel, MessageContent

# Not a gRPC code: the call succeeded but its answer cannot be used (a value this
# service cannot convert). The same call would get the same answer.
UNUSABLE_ANSWER = "UNUSABLE_ANSWER"
# Codes after which the same call may succeed later; anything else is the
# request's own fault (or the answer's) and retrying it cannot help.
PERMANENT_CODES = frozenset(
    {
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "OUT_OF_RANGE",
        UNUSABLE_ANSWER,
    }
)


class DependencyError(Exception):
    """A call to another service failed.

    `code` is the gRPC status code name, or UNUSABLE_ANSWER. `definite` means the
    same call cannot succeed by retrying it; by default it follows from the code,
    but an adapter may say so of a code that is usually transient (a message over
    the size limit is RESOURCE_EXHAUSTED, like a quota).
    """

    def __init__(
        self,
        service: str,
        code: str,
        reason: str = "",
        details: str = "",
        *,
        definite: bool | None = None,
    ) -> None:
        self.service = service
        self.code = code
        self.reason = reason  # ErrorInfo.reason when the server sent one
        self.details = details
        self.definite = code in PERMANENT_CODES if definite is None else definite
        super().__init__(f"{service}: {code} {reason}".strip())

    @property
    def transient(self) -> bool:
        return not self.definite


@dataclass(frozen=True)
class ConsentQuery:
    customer: str
    purpose: str
    channel: Channel


@dataclass(frozen=True)
class OutboundMessage:
    workspace: str
    idempotency_key: str
    customer: str
    purpose: str
    channel: Channel
    content: MessageContent
    source: str
    data: dict[str, Any] = field(default_factory=dict)
    # Delivery chooses among `candidate_channels` (channel is then its fallback).
    best_channel: bool = False
    candidate_channels: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class SentMessage:
    name: str
    state: str  # the delivery state's name, e.g. "QUEUED"
    # The channel delivery sends on; None when it did not say.
    channel: Channel | None = None


@dataclass(frozen=True)
class CustomerProfile:
    """What profile knows of a customer, as rules see it under `profile`."""

    customer: str
    traits: dict[str, Any] = field(default_factory=dict)
    computed_traits: dict[str, Any] = field(default_factory=dict)
    segments: tuple[str, ...] = ()
    life_stage: str = ""

    def rule_variable(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "traits": self.traits,
            "computed_traits": self.computed_traits,
            "segments": list(self.segments),
            "life_stage": self.life_stage,
        }


@dataclass(frozen=True)
class ProfilePage:
    """A page of profile's ListProfiles: the profiles (with the traits asked) and the
    token of the next page ('' after the last)."""

    profiles: list[CustomerProfile]
    next_page_token: str
