"""The identity unit of work: one transaction over the identity graph."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rapport.identity.adapters.repository import IdentityRepository
from rapport.sqlstore import SqlUnitOfWork
from sqlalchemy.exc import DBAPIError, IntegrityError

# PostgreSQL deadlock_detected and serialization_failure: the transaction lost a race.
_RETRYABLE_SQLSTATES = {"40P01": "DEADLOCK", "40001": "SERIALIZATION_FAILURE"}


class ConcurrentUpdate(Exception):
    """A concurrent transaction changed the same part of the graph; redo the whole unit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # short and free of personal data: fit for logs


def _race_reason(exc: BaseException | None) -> str | None:
    """Why the transaction lost a race (None when the error is not a race)."""
    if isinstance(exc, IntegrityError):
        return "UNIQUE_VIOLATION"
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
        return _RETRYABLE_SQLSTATES.get(code)
    return None


class IdentityUnitOfWork(SqlUnitOfWork):
    identities: IdentityRepository
    # Called after each successful commit (bootstrap: wakes WatchChanges streams).
    on_commit: Callable[[], None] | None = None

    def _open_repositories(self) -> None:
        self.identities = IdentityRepository(self.connection)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        # Storage races surface as one storage-neutral exception the handlers retry on.
        if (reason := _race_reason(exc)) is not None:
            raise ConcurrentUpdate(reason) from exc

    async def commit(self) -> None:
        try:
            await super().commit()
        except DBAPIError as exc:
            if (reason := _race_reason(exc)) is not None:
                raise ConcurrentUpdate(reason) from exc
            raise
        if self.on_commit is not None:
            self.on_commit()
