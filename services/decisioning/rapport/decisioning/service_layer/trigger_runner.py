"""The trigger runner: a background component that follows profile signals and fires triggers.

At least once: a signal's cursor is stored only after the signal was fully
handled (triggered.handle_signal), and every send carries an idempotency key
derived from the trigger and the event, so a replay after a crash sends
nothing twice.

One signal never stops the triggers of its workspace:

- a transient failure (a dependency UNAVAILABLE or past its deadline, the
  database unreachable or a lost race) is retried on the same signal, with backoff;
- a failure for good (the signal cannot be read, a dependency refuses it, a rule
  fails, or an error nobody expected persists) is recorded, a warning with the
  workspace, trigger, cursor, reason and count, and the cursor moves past the signal;
- a stream that keeps failing at one position cannot be skipped from here (the
  next cursor is unknown): after STUCK_AFTER identical failures each further one is
  an error, retried at the longest pause. Profile itself passes over the signals
  it cannot stream and says how many; that count is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import aclosing

from rapport.decisioning.domain.model import Signal
from rapport.decisioning.domain.outbound import DependencyError
from rapport.errors import Aborted
from rapport.sqlstore import database_unreachable, run_with_retries, transient_conflict

from . import commands, trigger_kinds, triggered
from .dependencies import Dependencies

log = logging.getLogger(__name__)

# Identical failures in a row at one position before the runner says it is stuck.
STUCK_AFTER = 5
# Attempts at a signal whose handling fails in a way nobody expected (a bug
# triggered by its content) before it is recorded and passed over.
UNEXPECTED_ATTEMPTS = 3


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

    def hold_at_maximum(self) -> None:
        """Every following pause is the longest one (until reset)."""
        self._next = self._maximum

    async def sleep(self) -> None:
        self.attempt += 1
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        await asyncio.sleep(delay)


def is_transient(exc: Exception) -> bool:
    """Whether the same work may succeed later: a dependency or the database was
    unreachable, or a transaction lost a race."""
    if isinstance(exc, DependencyError):
        return exc.transient
    if isinstance(exc, Aborted) or transient_conflict(exc) is not None:
        return True
    return database_unreachable(exc) or isinstance(exc, TimeoutError)


# (cursor, code, reason) of a failure, to tell when the same one repeats.
_Failure = tuple[str, str, str]


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
        # Per workspace: failures recorded (signal or trigger passed over), and
        # signals profile said it passed over.
        self.skipped: Counter[str] = Counter()
        self.skipped_by_profile: Counter[str] = Counter()

    def _backoff(self) -> Backoff:
        return Backoff(self._backoff_initial, self._backoff_max)

    async def run(self) -> None:
        """Watch every configured workspace until cancelled."""
        async with asyncio.TaskGroup() as group:
            for workspace in self._deps.workspaces:
                group.create_task(self.run_workspace(workspace), name=f"triggers:{workspace}")

    async def run_workspace(self, workspace: str) -> None:
        backoff = self._backoff()
        last_failure: _Failure | None = None
        repeats = 0
        while True:
            cursor = ""
            try:
                async with self._deps.uow(readonly=True) as uow:
                    cursor = await uow.signal_cursors.get(workspace)
                log.info("watching signals", extra={"workspace": workspace, "cursor": cursor})
                async with aclosing(self._deps.profile.watch_signals(workspace, cursor)) as signals:
                    async for signal in signals:
                        await self._process(workspace, signal)
                        cursor = signal.cursor
                        backoff.reset()
                log.info("signal stream ended", extra={"workspace": workspace})
                failure = (cursor, "ENDED", "")
            except DependencyError as err:
                failure = (cursor, err.code, err.reason)
                log.warning(
                    "signal stream broken",
                    extra={
                        "workspace": workspace,
                        "cursor": cursor,
                        "code": err.code,
                        "error_reason": err.reason,
                        "attempt": backoff.attempt + 1,
                    },
                )
            except Exception as exc:
                # The runner must outlive any one failure (database restart...).
                failure = (cursor, "", type(exc).__name__)
                log.exception(
                    "trigger runner failed", extra={"workspace": workspace, "cursor": cursor}
                )
            repeats = repeats + 1 if failure == last_failure else 1
            last_failure = failure
            if repeats >= STUCK_AFTER:
                self._report_stuck(workspace, failure, repeats, backoff)
            # Reconnect from the stored cursor.
            await backoff.sleep()

    def _report_stuck(
        self, workspace: str, failure: _Failure, repeats: int, backoff: Backoff
    ) -> None:
        cursor, code, reason = failure
        log.error(
            "trigger runner stuck: the same failure keeps repeating at one position",
            extra={
                "workspace": workspace,
                "cursor": cursor,
                "code": code,
                "error_reason": reason,
                "attempt": repeats,
            },
        )
        backoff.hold_at_maximum()

    async def _process(self, workspace: str, signal: Signal) -> None:
        if signal.skipped_before:
            self.skipped_by_profile[workspace] += signal.skipped_before
            log.warning(
                "profile passed over signals it could not stream",
                extra={
                    "workspace": workspace,
                    "cursor": signal.cursor,
                    "count": signal.skipped_before,
                },
            )
        for failure in await self._handle_until_done(workspace, signal):
            self._record(workspace, signal, failure)
        await self._save_cursor(workspace, signal.cursor)

    def _record(self, workspace: str, signal: Signal, failure: triggered.Failure) -> None:
        self.skipped[workspace] += 1
        log.warning(
            "signal passed over",
            extra={
                "workspace": workspace,
                "trigger": failure.trigger,
                "cursor": signal.cursor,
                "error_reason": failure.reason,
                "count": self.skipped[workspace],
            },
        )

    async def _save_cursor(self, workspace: str, cursor: str) -> None:
        now = self._deps.clock()
        await run_with_retries(
            self._deps.uow,
            lambda uow: uow.signal_cursors.save(workspace, cursor, now),
            description="the signal cursor kept conflicting with another replica",
        )

    async def consume(self, workspace: str, signal: Signal) -> None:
        """One signal from the JetStream durable consumer (replicas share the work): a
        transient failure raises, so the signal is delivered again later; failures for
        good are recorded. Cursors are the consumer's business, not the database's."""
        if workspace not in self._deps.workspaces:
            return
        for failure in await self.handle(workspace, signal):
            self._record(workspace, signal, failure)

    async def handle(self, workspace: str, signal: Signal) -> list[triggered.Failure]:
        """Fire every trigger the signal matches, once (see triggered.handle_signal)."""
        return await trigger_kinds.handle_signal(
            commands.HandleSignal(workspace, signal), self._deps
        )

    async def _handle_until_done(self, workspace: str, signal: Signal) -> list[triggered.Failure]:
        """Retry transient failures of this signal until it is handled; the failures for good."""
        backoff = self._backoff()
        unexpected = 0
        while True:
            try:
                return await self.handle(workspace, signal)
            except Exception as exc:
                code = exc.code if isinstance(exc, DependencyError) else ""
                reason = exc.service if isinstance(exc, DependencyError) else type(exc).__name__
                where = {"workspace": workspace, "cursor": signal.cursor, "code": code}
                if is_transient(exc):
                    log.warning(
                        "signal handling will be retried",
                        extra={**where, "error_reason": reason, "attempt": backoff.attempt + 1},
                    )
                else:
                    unexpected += 1
                    log.exception(
                        "signal handling failed",
                        extra={**where, "error_reason": reason, "attempt": unexpected},
                    )
                    if unexpected >= UNEXPECTED_ATTEMPTS:
                        return [triggered.Failure("", f"UNEXPECTED:{reason}")]
                if backoff.attempt + 1 >= STUCK_AFTER:
                    failure = (signal.cursor, code, reason)
                    self._report_stuck(workspace, failure, backoff.attempt + 1, backoff)
                await backoff.sleep()
