"""The identity unit of work: one transaction over the identity tables, and its retries.

Every repository is an attribute of the unit (``uow.identities``, ``uow.graph``...):
the service layer never builds one from a connection. Graph writers record what
they changed in ``uow.changes``; the ``after_commit`` hook publishes it once the
unit has committed (see graph_changes.py). ``with_retries`` redoes a whole unit
that lost a race (rapport.sqlstore.run_with_retries with the identity budgets).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import TypeVar

from rapport.identity.adapters.deduplication_repository import DeduplicationRepository
from rapport.identity.adapters.graph_repository import GraphRepository
from rapport.identity.adapters.lifecycle_repository import LifecycleRepository
from rapport.identity.adapters.matching_repository import MatchingRepository
from rapport.identity.adapters.repository import IdentityRepository
from rapport.identity.adapters.rules_repository import RulesRepository
from rapport.sqlstore import (
    SqlUnitOfWork,
    TransientConflict,
    run_with_retries,
    transient_conflict,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from .graph_changes import GraphChanges

T = TypeVar("T")

# Whole-unit-of-work retries after losing a race (a unique key, a deadlock).
MAX_RETRIES = 3
# A customer found was merged meanwhile: expected under contention and cheap to
# redo (the merge has committed), so it has its own, larger budget. Raised by the
# use cases as ``TransientConflict(STALE_READ)``.
STALE_READ = "STALE_READ"
MAX_STALE_RETRIES = 10

AfterCommit = Callable[[GraphChanges], Awaitable[None]]


def _race_reason(exc: BaseException | None) -> str | None:
    """Why the transaction lost a race (None when the error is not a race).

    Any IntegrityError is a lost race on a unique key: an identifier, a workspace's
    rules or match model row, a separation (SQLite's carry no
    SQLSTATE); otherwise PostgreSQL's deadlock and serialization failures.
    """
    if isinstance(exc, IntegrityError):
        return "UNIQUE_VIOLATION"
    if isinstance(exc, DBAPIError):
        return transient_conflict(exc)
    return None


class IdentityUnitOfWork(SqlUnitOfWork):
    identities: IdentityRepository
    graph: GraphRepository
    lifecycle: LifecycleRepository
    matching: MatchingRepository
    deduplication: DeduplicationRepository
    rules: RulesRepository

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        readonly: bool = False,
        after_commit: AfterCommit | None = None,
    ) -> None:
        super().__init__(engine, readonly=readonly)
        self.changes = GraphChanges()
        self._after_commit = after_commit
        self._committed = False

    def _open_repositories(self) -> None:
        self.identities = IdentityRepository(self.connection)
        self.graph = GraphRepository(self.connection)
        self.lifecycle = LifecycleRepository(self.connection)
        self.matching = MatchingRepository(self.connection)
        self.deduplication = DeduplicationRepository(self.connection)
        self.rules = RulesRepository(self.connection)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        # Connection returned (and SQLite's writer lock released) first.
        if self._committed and self.changes and self._after_commit is not None:
            await self._after_commit(self.changes)
        # Storage races surface as one storage-neutral exception the retries act on.
        if (reason := _race_reason(exc)) is not None:
            raise TransientConflict(reason) from exc

    async def commit(self) -> None:
        try:
            await super().commit()
        except DBAPIError as exc:
            if (reason := _race_reason(exc)) is not None:
                raise TransientConflict(reason) from exc
            raise
        self._committed = True


async def with_retries(
    uow_factory: Callable[..., IdentityUnitOfWork],
    work: Callable[[IdentityUnitOfWork], Awaitable[T]],
) -> T:
    """Run ``work`` in a writing unit of work and commit; redo the unit when it lost a race.

    ``work`` must be safe to run again from scratch: every attempt has a fresh unit
    (and fresh ``uow.changes``). Aborted (CONCURRENT_UPDATE) once the budget is spent.
    """
    return await run_with_retries(
        partial(uow_factory, readonly=False),
        work,
        retries=MAX_RETRIES,
        budgets={STALE_READ: MAX_STALE_RETRIES},
        description="concurrent updates of the same customers kept conflicting; retry the call",
    )
