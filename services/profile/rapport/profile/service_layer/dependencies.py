"""Everything the profile use cases need, built once in bootstrap.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from rapport.commitwatch import CommitNotifier
from rapport.pagination import PageTokens
from rapport.profile.adapters.identity_client import IdentityClient
from rapport.profile.adapters.profile_cache import ProfileCache, no_cache
from rapport.profile.domain.ingestion import IngestLimits
from rapport.profile.domain.model import ProfileView, StoredEvent, WatchedSignal

from .identity_cache import IdentityCache
from .ordering import ArrivalOrder
from .unit_of_work import UnitOfWorkFactory

DEFAULT_LIST_PAGE_MAX_BYTES = 1024 * 1024
DEFAULT_DEDUP_WINDOW = timedelta(days=7)
_DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


def streamable_bytes(max_message_bytes: int) -> int:
    """The largest WatchSignals response sent under a message limit: some headroom is
    kept (1/16 of the limit, at most 64 KiB) for what a client may count on top."""
    return max_message_bytes - min(64 * 1024, max_message_bytes // 16)


class ResponseEncoder(Protocol):
    """The wire form of results (entrypoints.converters in the server).

    Some limits are in bytes of the encoded response, which only the encoding
    knows: the use cases encode what they return through this and measure it.
    """

    def event(self, event: StoredEvent) -> Any:
        """An event as ListEvents returns it."""

    def profile(self, view: ProfileView) -> bytes:
        """A profile as GetProfile answers it, serialized (what its cache keeps)."""

    def event_entry_size(self, encoded: Any) -> int:
        """The bytes an encoded event adds to a ListEventsResponse."""

    def watch_response(self, watched: WatchedSignal) -> Any:
        """One WatchSignals response."""

    def size(self, encoded: Any) -> int:
        """The size of an encoded response, in bytes."""


@dataclass(frozen=True)
class Dependencies:
    # ``uow()`` for a write transaction, ``uow(readonly=True)`` for reads.
    uow: UnitOfWorkFactory
    identity: IdentityClient
    # Wakes WatchSignals streams after a commit that appended signals.
    notifier: CommitNotifier
    # The workspaces this deployment serves.
    workspaces: Collection[str]
    page_tokens: PageTokens
    encoder: ResponseEncoder
    clock: Callable[[], datetime] = utc_now
    ingest_limits: IngestLimits = IngestLimits()
    # A ListEvents page ends before its response would exceed this many bytes.
    list_page_max_bytes: int = DEFAULT_LIST_PAGE_MAX_BYTES
    # WatchSignals: rows read per query, and how often to look for other replicas' commits.
    signal_batch_size: int = 500
    signal_poll_seconds: float = 0.5
    # A stored signal whose response would be larger is skipped (not streamable).
    signal_response_max_bytes: int = streamable_bytes(_DEFAULT_MAX_MESSAGE_BYTES)
    # A message id replayed within this window is a duplicate.
    dedup_window: timedelta = DEFAULT_DEDUP_WINDOW
    # GetProfile's cache; writers invalidate it before answering.
    profile_cache: ProfileCache = field(default_factory=no_cache)
    # This process's batches write in the order they arrived.
    arrival_order: ArrivalOrder = field(default_factory=ArrivalOrder)
    # Identity's answers that stay true until the identity follower reports a change.
    identity_cache: IdentityCache = field(default_factory=IdentityCache)
    # Segments: the evaluator applies a segment to every customer in chunks of this
    # many customers, re-evaluates rules depending on time every segment_interval, looks
    # for due segments at least every segment_poll_interval, and wakes up at once when
    # segment_wakeup is set (a segment was created).
    segment_chunk_size: int = 5000
    segment_interval: timedelta = timedelta(hours=1)
    segment_poll_interval: timedelta = timedelta(seconds=30)
    segment_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Computed traits: a backfill reads this many events per transaction; set wakes the
    # runner (a trait was created).
    backfill_chunk_size: int = 2000
    backfill_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
