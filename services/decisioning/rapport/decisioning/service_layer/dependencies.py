"""Everything the handlers use, built once in bootstrap, and the ports to other services.

The client ports are Protocols: the adapters (grpc_clients, and the tests'
in-memory fakes) implement them without importing the service layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from rapport.decisioning.domain.model import Signal
from rapport.decisioning.domain.outbound import ConsentQuery, OutboundMessage, SentMessage
from rapport.decisioning.domain.rules import RuleBook
from rapport.pagination import PageTokens

from .unit_of_work import DecisioningUnitOfWork


class ProfileClient(Protocol):
    async def get_traits(self, customer: str) -> dict[str, Any] | None:
        """The customer's traits as plain values; None when the profile does not exist.

        A definite DependencyError when the answer cannot be converted.
        """
        ...

    def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        """Event-seen signals after `start_cursor`, then new ones as they come.

        A signal whose event cannot be converted comes with `unreadable` set rather
        than ending the stream.
        """
        ...


class ConsentClient(Protocol):
    async def check(self, query: ConsentQuery) -> bool:
        """True when contact is allowed now."""
        ...

    async def batch_check(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        """One answer per query, in order, in as few calls as the service allows."""
        ...


class DeliveryClient(Protocol):
    async def send(self, message: OutboundMessage) -> SentMessage:
        """Hand a message to delivery (idempotent by its key)."""
        ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Dependencies:
    """What every handler (and the trigger runner) may use."""

    # uow() for a write transaction, uow(readonly=True) for reads.
    uow: Callable[..., DecisioningUnitOfWork]
    profile: ProfileClient
    consent: ConsentClient
    delivery: DeliveryClient
    # The workspaces this deployment serves.
    workspaces: Collection[str]
    # Compiled CEL programs, shared by validation and evaluation.
    rules: RuleBook
    # Encrypts List* page tokens (the page_token_key setting; the same on every replica).
    page_tokens: PageTokens
    clock: Callable[[], datetime] = utc_now
