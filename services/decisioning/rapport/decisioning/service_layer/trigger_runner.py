"""The trigger runner: a background component that follows profile signals and fires triggers.

At least once: a signal's cursor is stored only after the signal, and the signals
read with it, were fully handled (triggered.handle_signal), and every send carries
an idempotency key derived from the trigger and the event, so a replay after a
crash sends nothing twice. The signals the stream has delivered are handled as a
batch, their outcomes recorded in one unit of work (outcome_batch.py).

One signal never stops the triggers of its workspace:

- a transient failure (a dependency UNAVAILABLE or past its deadline, the
  database unreachable or a lost race) is retried on the same signal, with backoff;
- a failure for good (the signal cannot be read, a dependency refuses it, a rule
  fails, or an error nobody expected persists) is recorded, a warning with the
  workspace, trigger, cursor, reason and count, and the cursor moves past the signal;
- a stream that keeps failing at one position cannot be skipped from here (the
  next cursor is unknown): after STUCK_AFTER identical failures each further one is
  an error, retried at the longest pause. Profile itself passes over the signals
  it cannot stream and says how many; that count is logged. A date trait changed to
  a value that is no date is counted and warned of once per signal (never the value).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from rapport.decisioning.domain.model import Signal
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.signals import SignalKind
from rapport.errors import Aborted
from rapport.sqlstore import database_unreachable, transient_conflict

from . import commands, outcome_batch, trigger_activities, trigger_kinds, triggered
from .dependencies import Dependencies

log = logging.getLogger(__name__)

# Identical failures in a row at one position before the runner says it is stuck.
STUCK_AFTER = 5
# Attempts at a signal whose handling fails in a way nobody expected (a bug
# triggered by its content) before it is recorded and passed over.
UNEXPECTED_ATTEMPTS = 3
# Signals read ahead of the one being handled, and handled as one batch at most: the
# signals already there when a batch starts (one alone when they come slowly).
BATCH = outcome_batch.MAX_BATCH
# Signals remembered as already warned of (a date trait holding no date), per runner.
WARNED_SIGNALS = 4096


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


_END = object()


@asynccontextmanager
async def read_ahead(
    signals: AsyncIterator[Signal], size: int
) -> AsyncIterator[AsyncIterator[list[Signal]]]:
    """Batches of the signals the stream has delivered (at most `size`, in order); a
    task reads ahead while a batch is handled. The stream's end or failure comes after
    the signals before it."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=size)

    async def pump() -> None:
        try:
            async with aclosing(signals) as stream:
                async for signal in stream:
                    await queue.put(signal)
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(_END)

    async def batches() -> AsyncIterator[list[Signal]]:
        while True:
            batch: list[Signal] = []
            item = await queue.get()
            while isinstance(item, Signal):
                batch.append(item)
                if len(batch) >= size or queue.empty():
                    item = None
                    break
                item = queue.get_nowait()
            if batch:
                yield batch
            if isinstance(item, Exception):
                raise item
            if item is _END:
                return

    reader = asyncio.create_task(pump())
    try:
        yield batches()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


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
        # Per workspace: date traits of time windows that changed to a value not a date.
        self.not_a_date: Counter[str] = Counter()
        self._warned: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._recorder = outcome_batch.OutcomeRecorder(deps)

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
                signals = self._deps.profile.watch_signals(workspace, cursor)
                async with read_ahead(signals, BATCH) as batches:
                    async for batch in batches:
                        await self._process(workspace, batch)
                        cursor = batch[-1].cursor
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

    async def _process(self, workspace: str, signals: list[Signal]) -> None:
        for signal in signals:
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
        attributed = await self._attribute(workspace, signals)
        # The activities that write nothing else are stored with the cursor.
        with trigger_activities.collecting() as activities:
            for n, signal in enumerate(signals):
                for failure in await self._handle_until_done(workspace, signal, n in attributed):
                    self._record(workspace, signal, failure)
        # Once per batch: a replay after a crash records and sends nothing twice.
        await trigger_activities.store_with_cursor(
            self._deps, workspace, signals[-1].cursor, activities
        )

    async def _attribute(self, workspace: str, signals: list[Signal]) -> set[int]:
        """Record the outcomes of the batch's events in one unit of work; the positions
        of the signals it covered. When that fails, none: each signal is then handled
        alone (its own attribution, retries and passing over, as ever), so one bad event
        costs the batch its speed, never its outcomes.

        A signal's triggers fire after the outcomes of the later signals of its batch
        are recorded. No outcome changes for it: what a trigger stores now (a decision,
        a message's link) cannot be what an event that happened before was an outcome
        of. A trigger's decision may see what those outcomes taught the models and
        which channels they settled, a few signals earlier than one at a time would."""
        events = [
            (n, signal.customer, event)
            for n, signal in enumerate(signals)
            if signal.kind is SignalKind.EVENT_SEEN
            and (event := triggered.attributable_event(signal)) is not None
        ]
        if len(events) < 2:
            return set()
        try:
            await outcome_batch.attribute_events(
                workspace, [(customer, event) for _, customer, event in events], self._deps
            )
        except Exception as exc:
            log.warning(
                "batch of outcomes failed: its signals are handled one at a time",
                extra={
                    "workspace": workspace,
                    "cursor": signals[0].cursor,
                    "count": len(events),
                    "error_reason": type(exc).__name__,
                },
            )
            return set()
        return {n for n, _, _ in events}

    def _record(self, workspace: str, signal: Signal, failure: triggered.Failure) -> None:
        if failure.reason == trigger_kinds.NOT_A_DATE:
            self._record_not_a_date(workspace, signal, failure)
            return
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

    def _record_not_a_date(
        self, workspace: str, signal: Signal, failure: triggered.Failure
    ) -> None:
        """Count and warn once per signal (a replayed batch repeats neither)."""
        if signal.cursor:
            key = (workspace, signal.cursor)
            if key in self._warned:
                return
            self._warned[key] = None
            if len(self._warned) > WARNED_SIGNALS:
                self._warned.popitem(last=False)
        self.not_a_date[workspace] += 1
        log.warning(
            "date trait holds a value that is not a date (YYYY-MM-DD or RFC 3339): "
            "the time window is not scheduled for the customer",
            extra={
                "workspace": workspace,
                "customer": signal.customer,
                "trigger": failure.trigger,
                "trait": signal.trait.key if signal.trait else "",
                "cursor": signal.cursor,
                "error_reason": failure.reason,
                "count": self.not_a_date[workspace],
            },
        )

    async def consume(self, workspace: str, signal: Signal) -> None:
        """One signal from the JetStream durable consumer (replicas share the work).

        A transient failure is retried here, with backoff, until it passes, as on the
        cursor's path: raised, it would be nak'ed, and JetStream terminates a message
        after max_deliver attempts (about a minute), so a dependency away for longer
        would have the signal's triggers never fire. The consumer keeps the message
        while it is handled; stopping hands it to another replica. A failure nobody
        expected raises (JetStream delivers it again, then terminates and reports it);
        failures for good are recorded. Cursors are the consumer's business, not the
        database's."""
        if workspace not in self._deps.workspaces:
            return
        # Concurrent calls (one per partition) share the unit of work of their outcomes.
        event = triggered.attributable_event(signal)
        attributed = (
            signal.kind is SignalKind.EVENT_SEEN
            and event is not None
            and await self._recorder.record(workspace, signal.customer, event)
        )
        for failure in await self._handle_until_done(
            workspace, signal, attributed, raise_unexpected=True
        ):
            self._record(workspace, signal, failure)

    async def handle(
        self, workspace: str, signal: Signal, attributed: bool = False
    ) -> list[triggered.Failure]:
        """Fire every trigger the signal matches, once (see triggered.handle_signal)."""
        return await trigger_kinds.handle_signal(
            commands.HandleSignal(workspace, signal, attributed), self._deps
        )

    async def _handle_until_done(
        self, workspace: str, signal: Signal, attributed: bool, *, raise_unexpected: bool = False
    ) -> list[triggered.Failure]:
        """Retry transient failures of this signal until it is handled; the failures for
        good. `raise_unexpected`: a failure that is not transient raises at once (its
        caller retries it and passes it over) instead of being retried here."""
        backoff = self._backoff()
        unexpected = 0
        while True:
            try:
                return await self.handle(workspace, signal, attributed)
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
                    if raise_unexpected:
                        raise
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
