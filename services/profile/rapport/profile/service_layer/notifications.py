"""In-process wake-ups for signal watchers after each ingest commit."""

from __future__ import annotations

import asyncio
import contextlib


class SignalNotifier:
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
