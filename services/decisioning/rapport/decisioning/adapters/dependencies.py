"""What decisioning needs from profile, consent and delivery, as plain Python.

The service layer codes against these abstract clients; ``grpc_clients`` talks
to the real services and ``fakes`` keeps everything in memory for tests.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapport.decisioning.domain.model import Channel, MessageContent, Signal

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


class ProfileClient(abc.ABC):
    @abc.abstractmethod
    async def get_traits(self, customer: str) -> dict[str, Any] | None:
        """The customer's traits as plain values; None when the profile does not exist."""

    @abc.abstractmethod
    def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        """Event-seen signals after `start_cursor`, then new ones as they come."""


class ConsentClient(abc.ABC):
    @abc.abstractmethod
    async def check(self, query: ConsentQuery) -> bool:
        """True when contact is allowed now."""

    @abc.abstractmethod
    async def batch_check(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        """One answer per query, in order, in as few calls as the service allows."""


class DeliveryClient(abc.ABC):
    @abc.abstractmethod
    async def send(self, message: OutboundMessage) -> SentMessage:
        """Hand a message to delivery (idempotent by its key)."""
