"""Handlers still running, so that stopping waits for them before closing what they use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from ._wrapping import AroundEachCall

_log = logging.getLogger("rapport.grpcserver")


class InFlightInterceptor(AroundEachCall):
    """Keeps the task of every handler while it runs.

    grpc's ``server.stop(grace)`` returns once the remaining calls are cancelled,
    not once their handlers finished: a stream cancelled in the middle of a query
    would otherwise meet an engine already disposed (and a connection it opened
    then would outlive the process's exit).
    """

    def __init__(self) -> None:
        super().__init__()
        self._tasks: set[asyncio.Task[object]] = set()

    @asynccontextmanager
    async def around(self, _context: grpc.aio.ServicerContext, _method: str) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is None:  # not run as a task: nothing to wait for
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def settle(self, wait_seconds: float) -> None:
        """Cancel the handlers still running (their calls are over) and wait up to
        ``wait_seconds`` for them to end."""
        running = [task for task in self._tasks if not task.done()]
        if not running:
            return
        for task in running:
            # A second cancel would interrupt the clean-up the first one started.
            if not task.cancelling():
                task.cancel()
        _done, pending = await asyncio.wait(running, timeout=wait_seconds)
        if pending:
            _log.warning("handlers still running after stop", extra={"count": len(pending)})
