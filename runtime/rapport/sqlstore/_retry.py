"""Redo a whole unit of work when it lost a race with a concurrent transaction."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Protocol, Self, TypeVar

from rapport.errors import Aborted
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

_log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U", bound="_UnitOfWork")

# PostgreSQL: a racing insert of the same key, a deadlock, a serialization failure
# under REPEATABLE READ / SERIALIZABLE. A fresh attempt of the whole transaction sees
# what the winner committed. SQLite serialises writers, so none of these is a race there.
_TRANSIENT_SQLSTATES = {
    "23505": "UNIQUE_VIOLATION",
    "40P01": "DEADLOCK",
    "40001": "SERIALIZATION_FAILURE",
}


class TransientConflict(Exception):
    """Raise from a unit of work's body to have it redone from the start.

    For races the database does not report itself, e.g. a row found merged by a
    transaction that committed after this one's snapshot. ``reason`` is short and
    free of personal data (it is logged); budgets are per reason.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def transient_conflict(exc: BaseException) -> str | None:
    """Why ``exc`` is a lost race worth a fresh attempt, or None when it is not one.

    ``UNIQUE_VIOLATION``, ``DEADLOCK``, ``SERIALIZATION_FAILURE`` (PostgreSQL
    SQLSTATE 23505, 40P01, 40001), or the reason of a :class:`TransientConflict`.
    """
    if isinstance(exc, TransientConflict):
        return exc.reason
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
        return _TRANSIENT_SQLSTATES.get(code) if isinstance(code, str) else None
    return None


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or could not answer (a
    dropped connection, a refused one, a locked SQLite file): not the fault of what was
    being done, so worth waiting for and doing again."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | OSError)


class _UnitOfWork(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...

    async def commit(self) -> None: ...


async def run_with_retries(
    unit_of_work: Callable[[], U],
    work: Callable[[U], Awaitable[T]],
    *,
    retries: int = 3,
    budgets: Mapping[str, int] | None = None,
    classify: Callable[[BaseException], str | None] = transient_conflict,
    backoff_seconds: float = 0.01,
    description: str = "concurrent updates kept conflicting; retry the call",
) -> T:
    """``await work(uow)`` in a fresh ``unit_of_work()`` and commit; its result.

    When the attempt fails with an error ``classify`` names (default:
    :func:`transient_conflict`), the whole unit is redone in a new unit of work:
    each reason listed in ``budgets`` may be retried that many times, all other
    reasons share ``retries``. Past a budget: ``rapport.errors.Aborted``
    (``CONCURRENT_UPDATE``, the client may retry). Other errors propagate at once.
    Before each retry: a random pause of up to ``backoff_seconds`` x the retry
    number, so that the racers do not meet again.

    ``work`` must be safe to run again: it must not act outside the transaction
    (send, call, notify) before the commit succeeded.
    """
    limits = dict(budgets or {})
    used: dict[str | None, int] = {}
    attempt = 0
    while True:
        attempt += 1
        try:
            async with unit_of_work() as uow:
                result = await work(uow)
                await uow.commit()
            return result
        except Exception as exc:
            reason = classify(exc)
            if reason is None:
                raise
            pool = reason if reason in limits else None
            used[pool] = used.get(pool, 0) + 1
            if used[pool] > limits.get(reason, retries):
                raise Aborted("CONCURRENT_UPDATE", description) from exc
            _log.info(
                "retrying after a concurrent update",
                extra={"attempt": attempt, "error_reason": reason},
            )
        if backoff_seconds > 0:
            await asyncio.sleep(random.uniform(0, backoff_seconds * attempt))
