"""Everything the profile use cases need, built once in bootstrap.py."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from rapport.commitwatch import CommitNotifier
from rapport.profile.adapters.identity_client import IdentityClient

from .unit_of_work import UnitOfWorkFactory


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Dependencies:
    # ``uow()`` for a write transaction, ``uow(readonly=True)`` for reads.
    uow: UnitOfWorkFactory
    identity: IdentityClient
    # Wakes WatchSignals streams after a commit that appended signals.
    notifier: CommitNotifier
    # The workspaces this deployment serves.
    workspaces: Collection[str]
    clock: Callable[[], datetime] = utc_now
    # WatchSignals: rows read per query, and how often to look for other replicas' commits.
    signal_batch_size: int = 500
    signal_poll_seconds: float = 0.5
