"""Everything the use cases need, built once in bootstrap.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rapport.delivery.adapters.consent_client import ConsentClient
from rapport.delivery.adapters.email_provider import EmailProvider
from rapport.delivery.adapters.profile_client import ProfileClient
from rapport.delivery.domain.model import Channel, RetryPolicy
from rapport.pagination import PageTokens

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
    # One provider per channel this deployment can send on.
    providers: Mapping[Channel, EmailProvider]
    retry_policy: RetryPolicy
    # Page tokens of ListMessages (the key is the same on every replica).
    page_tokens: PageTokens
    # Set once a message is committed: wakes the dispatcher instead of waiting for its poll.
    dispatch_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = new_message_id

    @property
    def channels(self) -> frozenset[Channel]:
        """Channels with a provider in this deployment."""
        return frozenset(self.providers)
