"""In-process wake-ups for streams that tail a log table (WatchSignals, WatchChanges).

A writer calls notify() after each commit; a watcher takes a ticket before reading the
log and waits on it, polling as well for commits made by other replicas. follow() is
that watch loop, for any log with an increasing integer cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from rapport.errors import Unavailable

__all__ = ["CommitNotifier", "close_at_stop", "follow"]

_log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")


class CommitNotifier:
    """Watchers take a ticket *before* reading the log, then wait on it.

    A commit between their read and their wait has already set the ticket, so
    no wake-up is lost. Other replicas' commits are found by polling.
    """

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def ticket(self) -> asyncio.Event:
        return self._wakeup

    def notify(self) -> None:
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    def close(self) -> None:
        """The server is stopping: wake every watcher so it can end its stream."""
        self._closed = True
        self.notify()

    async def wait(self, ticket: asyncio.Event, seconds: float) -> None:
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes as
        # the ticket is set, and a cancelled stream would go on watching.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await ticket.wait()


def close_at_stop(notifier: CommitNotifier) -> Callable[[], Awaitable[None]]:
    """A background task for ServiceParts: background tasks are cancelled first when the
    server stops, the moment to let every watching stream end instead of hanging."""

    async def wait_then_close() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            notifier.close()

    return wait_then_close


def _log_undeliverable(cursor: int, exc: Exception) -> None:
    # The cursor and the error type only: a record may hold personal data.
    _log.warning(
        "stream skipped a record it could not deliver",
        extra={"cursor": cursor, "error_reason": type(exc).__name__},
    )


async def follow(
    notifier: CommitNotifier,
    read_after: Callable[[int, int], Awaitable[Sequence[R]]],
    *,
    after: int,
    cursor_of: Callable[[R], int],
    convert: Callable[[R], T | None],
    batch_size: int,
    poll_seconds: float,
    coalesce: Callable[[T, T], T | None] | None = None,
    on_undeliverable: Callable[[R, Exception], None] | None = None,
) -> AsyncIterator[T]:
    """Every record after the cursor ``after``, then each new one as it commits.

    ``read_after(cursor, limit)`` returns up to ``limit`` records with a cursor above
    ``cursor``, in cursor order (a fresh read-only unit of work each time). Each is
    passed to ``convert``: its result is yielded; None skips the record (e.g. a kind
    this version does not stream). When ``convert`` raises, the record cannot be
    delivered: ``on_undeliverable(record, error)`` is told (default: a warning with
    the cursor) and the stream goes on past it, so one bad stored record never stops
    a stream. ``coalesce(previous, next)`` may merge consecutive items of one read
    into one (None: keep both).

    After a short read the loop waits for a commit on this process (``notifier``) or
    ``poll_seconds`` (commits of other replicas). It ends with
    ``Unavailable("SHUTTING_DOWN")`` when the notifier closes: clients resume from
    the last cursor they received.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    while not notifier.closed:
        # Taken before reading, so a commit racing with the read still wakes us.
        ticket = notifier.ticket()
        records = await read_after(after, batch_size)
        pending: T | None = None
        for record in records:
            try:
                item = convert(record)
            except Exception as exc:
                if on_undeliverable is not None:
                    on_undeliverable(record, exc)
                else:
                    _log_undeliverable(cursor_of(record), exc)
                continue
            if item is None:
                continue
            if coalesce is None:
                yield item
                continue
            if pending is not None:
                merged = coalesce(pending, item)
                if merged is not None:
                    pending = merged
                    continue
                yield pending
            pending = item
        if pending is not None:
            yield pending
        if records:
            after = cursor_of(records[-1])  # past skipped records too
        if len(records) < batch_size:
            await notifier.wait(ticket, poll_seconds)
    raise Unavailable("SHUTTING_DOWN", "the server is stopping; resume from the last cursor")
