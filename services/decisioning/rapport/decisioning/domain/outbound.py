"""What decisioning asks of profile, consent and delivery, and how such a call fails.

Plain values shared by the service layer's client ports and the adapters that
implement them (over gRPC, or in memory in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Channel, MessageContent

# Codes after which the same call may succeed later; anything else is the
# request's own fault and retrying it cannot help.
PERMANENT_CODES = frozenset(
    {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "ALREADY_EXISTS", "OUT_OF_RANGE"}
)


class DependencyError(Exception):
    """A call to another service failed. `code` is the gRPC status code name."""

    def __init__(self, service: str, code: str, reason: str = "", details: str = "") -> None:
        self.service = service
        self.code = code
        self.reason = reason  # ErrorInfo.reason when the server sent one
        self.details = details
        super().__init__(f"{service}: {code} {reason}".strip())

    @property
    def transient(self) -> bool:
        return self.code not in PERMANENT_CODES


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


@dataclass(frozen=True)
class SentMessage:
    name: str
    state: str  # the delivery state's name, e.g. "QUEUED"
