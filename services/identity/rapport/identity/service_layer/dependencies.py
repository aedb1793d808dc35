"""Everything the identity use cases need, built once in bootstrap (or by a test)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rapport.commitwatch import CommitNotifier
from rapport.identity.adapters.cache import IdentifierCache
from rapport.identity.domain.deduplication import DeduplicationJob
from rapport.identity.domain.model import Change
from rapport.pagination import PageTokens

from .match_models import MatchModels
from .rules_cache import RulesCache
from .unit_of_work import IdentityUnitOfWork

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def streamable_bytes(max_message_bytes: int) -> int:
    """The largest WatchChanges response sent under a message limit: some headroom is
    kept for the framing around the message."""
    return max_message_bytes - min(64 * 1024, max_message_bytes // 16)


class ChangeEncoder(Protocol):
    """WatchChanges responses as the contract encodes them (entrypoints/converters.py).

    The stream measures each response before sending it: a change whose response
    would exceed the message limit cannot be streamed.
    """

    def response(self, workspace: str, change: Change, skipped_change_count: int) -> Any:
        """The response streaming ``change``, after ``skipped_change_count`` skipped ones."""

    def size(self, encoded: Any) -> int:
        """The size of an encoded response, in bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependencies:
    # uow_factory(readonly: bool = False): one unit of work over the identity database,
    # whose after-commit hook publishes graph changes (graph_changes.py).
    uow_factory: Callable[..., IdentityUnitOfWork]
    # The workspaces this deployment serves; a name in another one is NOT_FOUND.
    workspaces: Collection[str]
    # Each workspace's identity rules (cached per process).
    rules: RulesCache
    # Each workspace's match model (cached per process), for FindMatches and jobs.
    match_models: MatchModels
    # Identifier -> customer id, read through by Resolve and LookupCustomer.
    cache: IdentifierCache
    # Wakes WatchChanges streams when this process commits a change (and at shutdown).
    change_notifier: CommitNotifier
    # Page tokens of ListCustomers, ListDeduplicationJobs, ListMatchReviews (encrypted).
    page_tokens: PageTokens
    # WatchChanges responses, measured against ``watch_max_bytes`` before they are sent.
    change_encoder: ChangeEncoder
    # Deduplication jobs created and waiting for the runner (deduplication_jobs.py).
    pending_jobs: asyncio.Queue[DeduplicationJob] = field(default_factory=asyncio.Queue)
    clock: Clock = utc_now
    # Ids of new customers, deduplication jobs and match reviews.
    new_id: Callable[[], str] = new_id
    # WatchChanges: rows read per query, how often to look for other replicas' commits,
    # and the largest response (a stored change whose response would be larger is
    # skipped, counted in the next response's skipped_change_count).
    watch_batch_size: int = 500
    watch_poll_seconds: float = 0.5
    watch_max_bytes: int = streamable_bytes(4 * 1024 * 1024)
