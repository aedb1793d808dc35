"""The trigger runner: a background component that follows profile signals and fires triggers.

At least once: a signal's cursor is stored only after the signal was fully
handled (triggers.handle_signal), and every send carries an idempotency key
derived from the trigger and the event, so a replay after a crash sends
nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

from rapport.decisioning.domain.model import Signal
from rapport.decisioning.domain.outbound import DependencyError

from . import commands, triggers
from .dependencies import Dependencies

log = logging.getLogger(__name__)


class Backoff:
    """Exponential pauses: initial, doubling, capped."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial
        self.attempt = 0

    def reset(self) -> None:
        self._next = self._initial
        self.attempt = 0

    async def sleep(self) -> None:
        self.attempt += 1
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        await asyncio.sleep(delay)


class TriggerRunner:
    def __init__(
        self,
        deps: Dependencies,
        *,
        backoff_initial_seconds: float = 0.2,
        backoff_max_seconds: float = 5.0,
    ) -> None:
        self._deps = deps
        self._backoff_initial = backoff_initial_seconds
        self._backoff_max = backoff_max_seconds

    def _backoff(self) -> Backoff:
        return Backoff(self._backoff_initial, self._backoff_max)

    async def run(self) -> None:
        """Watch every configured workspace until cancelled."""
        async with asyncio.TaskGroup() as group:
            for workspace in self._deps.workspaces:
                group.create_task(self.run_workspace(workspace), name=f"triggers:{workspace}")

    async def run_workspace(self, workspace: str) -> None:
        backoff = self._backoff()
        while True:
            try:
                async with self._deps.uow(readonly=True) as uow:
                    cursor = await uow.signal_cursors.get(workspace)
                log.info("watching signals", extra={"workspace": workspace, "cursor": cursor})
                async with aclosing(self._deps.profile.watch_signals(workspace, cursor)) as signals:
                    async for signal in signals:
                        await self._handle_until_done(workspace, signal)
                        await self._save_cursor(workspace, signal.cursor)
                        backoff.reset()
                log.info("signal stream ended", extra={"workspace": workspace})
            except DependencyError as err:
                log.warning(
                    "signal stream broken",
                    extra={
                        "workspace": workspace,
                        "code": err.code,
                        "attempt": backoff.attempt + 1,
                    },
                )
            except Exception:
                # The runner must outlive any one failure (database restart...).
                log.exception("trigger runner failed", extra={"workspace": workspace})
            # Reconnect from the stored cursor.
            await backoff.sleep()

    async def _save_cursor(self, workspace: str, cursor: str) -> None:
        async with self._deps.uow() as uow:
            await uow.signal_cursors.save(workspace, cursor, self._deps.clock())
            await uow.commit()

    async def handle(self, workspace: str, signal: Signal) -> None:
        """Fire every trigger the signal matches, once (see triggers.handle_signal)."""
        await triggers.handle_signal(commands.HandleSignal(workspace, signal), self._deps)

    async def _handle_until_done(self, workspace: str, signal: Signal) -> None:
        """Retry transient failures of this signal until it is handled."""
        backoff = self._backoff()
        while True:
            try:
                await self.handle(workspace, signal)
                return
            except DependencyError as err:
                if not err.transient:
                    log.warning(
                        "signal skipped",
                        extra={
                            "workspace": workspace,
                            "cursor": signal.cursor,
                            "code": err.code,
                            "error_reason": err.reason or err.service,
                        },
                    )
                    return
                log.warning(
                    "signal handling will be retried",
                    extra={
                        "workspace": workspace,
                        "cursor": signal.cursor,
                        "code": err.code,
                        "error_reason": err.service,
                        "attempt": backoff.attempt + 1,
                    },
                )
                await backoff.sleep()
