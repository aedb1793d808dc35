"""Arrival order: the batches this process received are written in the order they came.

Identity resolution of several batches runs concurrently; their write transactions
then take turns in arrival order, so a customer's events are applied (and their
signals logged) in the order the server received them, across batches too. Writes
are serialised per process anyway (SQLite has one writer; on PostgreSQL the signal
log lock orders commits), so the turns cost no parallelism.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ArrivalOrder:
    def __init__(self) -> None:
        # Done when the latest batch to arrive has finished its turn (or given it up).
        self._last: asyncio.Future[None] | None = None

    @asynccontextmanager
    async def ticket(self) -> AsyncIterator[Turn]:
        """Take a place in line at arrival; ``await turn.wait()`` before writing.

        The place is given up on leaving the block, whatever happens (a failure, a
        cancelled call): later batches never wait for a batch that is gone.
        """
        loop = asyncio.get_running_loop()
        previous, mine = self._last, loop.create_future()
        self._last = mine
        try:
            yield Turn(previous)
        finally:
            # A batch that gives up before its turn still lets the next one go only
            # after the batch before it: order holds across the gap.
            if previous is None or previous.done():
                mine.set_result(None)
            else:
                previous.add_done_callback(lambda _: mine.done() or mine.set_result(None))


class Turn:
    def __init__(self, previous: asyncio.Future[None] | None) -> None:
        self._previous = previous

    async def wait(self) -> None:
        """Return once every batch that arrived before has written (or given up)."""
        if self._previous is not None:
            # Shielded: a cancelled waiter must not cancel the future it waits on.
            await asyncio.shield(self._previous)
