"""Everything the consent use cases need, built once in bootstrap (or by a test)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rapport.commitwatch import CommitNotifier
from rapport.consent.adapters.cache import StateCache
from rapport.consent.adapters.subject_rights import SubjectRightsPeer
from rapport.consent.domain.subject_requests import RetryPolicy
from rapport.consent.service_layer.unit_of_work import ConsentUnitOfWork
from rapport.pagination import PageTokens

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_record_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Dependencies:
    # uow_factory(readonly: bool = False): one unit of work over the consent database.
    uow_factory: Callable[..., ConsentUnitOfWork]
    # The current-state cache; RecordConsent invalidates the customer after its commit.
    cache: StateCache
    # The workspaces this deployment serves; a name in another one is NOT_FOUND.
    workspaces: Collection[str]
    # Page tokens of ListConsentRecords (the key is the same on every replica).
    page_tokens: PageTokens
    clock: Clock = utc_now
    # Ids of new ledger entries (the last segment of their resource names).
    new_id: Callable[[], str] = field(default=new_record_id)
    # Woken after each RecordConsent commit: WatchConsentRecords streams wait on it.
    notifier: CommitNotifier = field(default_factory=CommitNotifier)
    # WatchConsentRecords: entries read at once, and how often other replicas' commits
    # are looked for.
    watch_batch_size: int = 500
    watch_poll_seconds: float = 1.0
    # Data subject requests: the other services of this deployment (one step each, plus
    # consent's own), the backoff of failed steps, how long what an access found is
    # kept after it completed, the jitter's random draw (a test fixes it).
    subject_rights: Sequence[SubjectRightsPeer] = ()
    subject_request_retry: RetryPolicy = field(default_factory=RetryPolicy)
    access_retention: timedelta = timedelta(days=30)
    uniform: Callable[[float, float], float] = random.uniform
    # Set when a request is created: the worker looks for work at once.
    subject_request_created: asyncio.Event = field(default_factory=asyncio.Event)
