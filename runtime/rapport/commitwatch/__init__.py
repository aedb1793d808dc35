"""In-process wake-ups for streams that tail a log table (WatchSignals, WatchChanges).

A writer calls notify() after each commit; a watcher takes a ticket before reading the
log and waits on it, polling as well for commits made by other replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

__all__ = ["CommitNotifier", "close_at_stop"]


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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), seconds)


def close_at_stop(notifier: CommitNotifier) -> Callable[[], Awaitable[None]]:
    """A background task for ServiceParts: background tasks are cancelled first when the
    server stops, the moment to let every watching stream end instead of hanging."""

    async def wait_then_close() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            notifier.close()

    return wait_then_close
