"""Everything the use cases need, built once in bootstrap.py."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rapport.delivery.adapters.cap_store import CapStore
from rapport.delivery.adapters.consent_client import ConsentClient
from rapport.delivery.adapters.outbox_locks import OutboxLocks, RowLockedOutbox
from rapport.delivery.adapters.profile_client import ProfileClient
from rapport.delivery.adapters.providers import Provider
from rapport.delivery.domain.addressing import Addressing
from rapport.delivery.domain.circuit_breaker import CircuitBreakers
from rapport.delivery.domain.erased_keys import ErasedKeys
from rapport.delivery.domain.model import Channel, RetryPolicy
from rapport.delivery.domain.policy import SendingPolicy
from rapport.groupcommit import GroupCommit
from rapport.pagination import PageTokens

from .closed_loop import ClosedLoop
from .limits import ProviderLimits
from .unit_of_work import UnitOfWorkFactory


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Dependencies:
    uow_factory: UnitOfWorkFactory
    # The workspaces this deployment serves.
    workspaces: Collection[str]
    profiles: ProfileClient
    consents: ConsentClient
    # Per channel this deployment can send on, its providers in the order they are tried.
    providers: Mapping[Channel, Sequence[Provider]]
    retry_policy: RetryPolicy
    # Page tokens of the List methods (the key is the same on every replica).
    page_tokens: PageTokens
    # Which profile traits hold each channel's address; the workspaces' webhook URLs.
    addressing: Addressing = field(default_factory=Addressing)
    # One per provider, shared by every attempt of this process.
    breakers: CircuitBreakers = field(default_factory=CircuitBreakers)
    # Set once a message is committed: wakes the dispatcher instead of waiting for its poll.
    dispatch_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = new_message_id
    # Per provider: calls in flight and calls a second (limits.py).
    limits: ProviderLimits = field(default_factory=ProviderLimits)
    # Uniform in [0, 1): the full jitter of retry backoff (tests pin it).
    uniform: Callable[[], float] = random.random
    # Caps, quiet hours, best channel, locales, the idempotency window.
    policy: SendingPolicy = field(default_factory=SendingPolicy)
    # Where caps count messages; None: no caps are counted (only for deployments
    # without cap rules; bootstrap always gives one).
    caps: CapStore | None = None
    # Unsubscribe links, provider callbacks, profile events and opt-outs (closed_loop.py).
    loop: ClosedLoop = field(default_factory=ClosedLoop)
    # What erasure turns idempotency keys into (a keyed digest); bootstrap gives the one
    # kept in the database, so every replica finds an erased key again.
    erased_keys: ErasedKeys = field(default_factory=ErasedKeys)
    # SendMessage's group commit: concurrent accepts written in one transaction.
    accepts: GroupCommit[Any, Any] = field(default_factory=GroupCommit)
    # The check right before a provider call that the attempt still holds its message
    # (sending.py): concurrent attempts' checks read in one query.
    lease_checks: GroupCommit[Any, Any] = field(default_factory=GroupCommit)
    # What the outbox relay sends under and an erasure takes (adapters/outbox_locks.py);
    # bootstrap gives the one its database needs (row locks hold on any database, but
    # on SQLite they hold its write lock during the send).
    outbox_locks: OutboxLocks = field(default_factory=RowLockedOutbox)

    @property
    def channels(self) -> frozenset[Channel]:
        """Channels with a provider in this deployment."""
        return frozenset(channel for channel, chain in self.providers.items() if chain)

    def can_send(self, channel: Channel, workspace: str) -> bool:
        """Whether a message on `channel` in `workspace` has somewhere to go."""
        if channel not in self.channels:
            return False
        if channel is Channel.WEBHOOK:
            return workspace in self.addressing.webhook_urls
        return True
