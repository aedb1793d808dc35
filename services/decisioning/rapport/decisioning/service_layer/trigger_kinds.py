"""Every kind of trigger: the signal runner's entry point, and the schedule of time windows.

- EVENT_SEEN: event triggers and outcome attribution (triggered.handle_signal).
- SEGMENT_ENTERED / SEGMENT_EXITED: the triggers of that segment.
- LIFE_STAGE_CHANGED: the triggers of any change or of the new stage.
- TRAIT_CHANGED: the firing of each TIME_WINDOW trigger on that trait is scheduled
  (a row per trigger and customer, in the database: it survives restarts), moved
  when the date changes, removed when the trait is removed or holds no date. A value
  present but not a date (`31/12/2026`, `20261231`: no format is guessed) comes back
  as one NOT_A_DATE failure naming the triggers, which the runner counts and warns of.
  `fire_due` (the TriggerScheduler's step) fires the rows whose time came. A firing
  whose local fire time is long past (schedule.send_time) is stored, or found due, at
  the next local fire time instead, and dropped (TOO_LATE) when the window is over by
  then: a 09:00 firing never goes out at 21:30.

Every firing goes through triggered.fire_all: the one pipeline, a stored decision,
an idempotency key of trigger and signal (for a window: trigger, customer and date).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rapport.decisioning.adapters.schedule_repository import ScheduledFiring
from rapport.decisioning.domain.model import Signal, TrackedEvent, Trigger, TriggerKind
from rapport.decisioning.domain.rule_helpers import UTC_ZONE, time_zone
from rapport.decisioning.domain.schedule import (
    WindowTiming,
    fire_time_of,
    firing,
    last_day,
    send_time,
    too_late,
    trait_date,
)
from rapport.decisioning.domain.signals import SignalKind
from rapport.decisioning.domain.trigger_activity import ActivityOutcome
from rapport.sqlstore import run_with_retries

from . import commands, trigger_activities, triggered
from .dependencies import Dependencies
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

# Due firings handled per workspace and pass.
DUE_BATCH = 100
# How long a replica holds the due firings it claimed (a batch must be handled by then).
DEFAULT_LEASE = timedelta(minutes=5)
_KIND_NAMES = {
    SignalKind.SEGMENT_ENTERED: ("Segment Entered", TriggerKind.SEGMENT_ENTERED),
    SignalKind.SEGMENT_EXITED: ("Segment Exited", TriggerKind.SEGMENT_EXITED),
    SignalKind.LIFE_STAGE_CHANGED: ("Life Stage Changed", TriggerKind.LIFE_STAGE_CHANGED),
}
WINDOW_EVENT = "Time Window"
# A time window's date trait changed to a value that is present but not a date.
NOT_A_DATE = "DATE_TRAIT_NOT_A_DATE"


def _event(name: str, message_id: str, properties: dict[str, Any]) -> TrackedEvent:
    """What the conditions of a trigger of another kind than EVENT see as `event`."""
    return TrackedEvent(
        type="signal", name=name, message_id=message_id, properties=properties, context={}
    )


async def handle_signal(cmd: commands.HandleSignal, deps: Dependencies) -> list[triggered.Failure]:
    """Fire (or schedule) what the signal concerns; the failures for good."""
    signal = cmd.signal
    if signal.unreadable or signal.kind is SignalKind.EVENT_SEEN:
        return await triggered.handle_signal(cmd, deps)
    if signal.kind is SignalKind.TRAIT_CHANGED:
        return await _schedule(cmd.workspace, signal, deps)
    if signal.kind not in _KIND_NAMES:
        return []
    name, kind = _KIND_NAMES[signal.kind]
    config = await deps.live.get(cmd.workspace)
    if kind is TriggerKind.LIFE_STAGE_CHANGED:
        properties = {"old_stage": signal.old_stage, "new_stage": signal.new_stage}
        triggers = [
            t
            for t in config.triggers_of_kind(kind)
            if not t.life_stage or t.life_stage == signal.new_stage
        ]
    else:
        properties = {"segment": signal.segment}
        triggers = [t for t in config.triggers_of_kind(kind) if t.segment == signal.segment]
    # The signal's position identifies it: a replay derives the same keys.
    event = _event(name, f"signal:{signal.cursor}", properties)
    return await triggered.fire_all(cmd, config, event, triggers, deps)


def _not_a_date(value: Any) -> bool:
    """Present (not removed, not blank) yet no date trait_date reads."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    return trait_date(value) is None


async def _schedule(workspace: str, signal: Signal, deps: Dependencies) -> list[triggered.Failure]:
    """Schedule, move or remove the time windows on the changed trait; one NOT_A_DATE
    failure naming the triggers when the trait holds a value that is not a date."""
    trait = signal.trait
    if trait is None:
        return []
    timing = deps.window_timing
    config = await deps.live.get(workspace)
    windows = config.triggers_of_kind(TriggerKind.TIME_WINDOW)
    if trait.key == timing.zone_trait:
        await _move_to_zone(workspace, signal.customer, timing.zone_of(trait.value), deps)
    triggers = [t for t in windows if t.date_trait == trait.key]
    if not triggers:
        return []
    profile = await deps.profile.get_profile(signal.customer)
    zone = timing.zone_of(profile.traits.get(timing.zone_trait) if profile else None)
    now = deps.clock()
    not_a_date = _not_a_date(trait.value)

    async def put(uow: DecisioningUnitOfWork) -> bool:
        # False: the signal was read before the customer's erasure.
        if not await schedule_windows(
            uow, workspace, signal.customer, triggers, trait.value, zone, now, timing
        ):
            return False
        if not_a_date:
            for trigger in triggers:
                # With the schedule's change (the erasure check above covers it).
                await uow.trigger_activities.add_if_absent(
                    trigger_activities.not_a_date_activity(
                        workspace, trigger, signal, NOT_A_DATE, deps
                    )
                )
        return True

    done = await run_with_retries(
        deps.uow, put, description="the trigger schedule kept conflicting"
    )
    if done and not_a_date:
        return [triggered.Failure(", ".join(t.name for t in triggers), NOT_A_DATE)]
    return []


async def schedule_windows(
    uow: DecisioningUnitOfWork,
    workspace: str,
    customer: str,
    triggers: Sequence[Trigger],
    value: Any,
    zone: ZoneInfo,
    now: datetime,
    timing: WindowTiming,
    read_at: datetime | None = None,
) -> bool:
    """Schedule, move or remove the customer's firings of the TIME_WINDOW `triggers` for
    their date trait's `value` (a trait-changed signal, or the backfill of a trigger);
    False, changing nothing, when the customer was erased. The same date again changes
    nothing (a firing done stays done). `read_at`: when `value` was read (a backfill's
    page); a firing written since came from a newer value and stays."""
    if await uow.erased_customers.erased_under_lock(workspace, customer):
        return False
    for trigger in triggers:
        when = firing(trigger, value, timing, zone)
        if when is None:
            await uow.trigger_schedules.remove(workspace, trigger.trigger_id, customer, read_at)
        else:
            # Already late: stored at its next send time (a window already over keeps
            # its time, and the next pass drops it).
            deadline = last_day(when.anchor, trigger.offset_days)
            at = send_time(when.fire_time, deadline, now, timing, zone) or when.fire_time
            await uow.trigger_schedules.put(
                workspace, trigger.trigger_id, customer, when.anchor, at, now, zone.key, read_at
            )
    return True


async def _move_to_zone(workspace: str, customer: str, zone: ZoneInfo, deps: Dependencies) -> None:
    """The customer's zone changed: their firings not yet done move to its clock."""
    config = await deps.live.get(workspace)
    now = deps.clock()

    async def move(uow: DecisioningUnitOfWork) -> None:
        for row in await uow.trigger_schedules.pending(workspace, customer):
            trigger = config.trigger(row.trigger_id)
            if row.fired or trigger is None or trigger.kind is not TriggerKind.TIME_WINDOW:
                continue
            when = fire_time_of(row.anchor, trigger.offset_days, deps.window_timing, zone)
            if when is not None:
                deadline = last_day(row.anchor, trigger.offset_days)
                at = send_time(when, deadline, now, deps.window_timing, zone) or when
                await uow.trigger_schedules.move(row, at, zone.key, now)

    await run_with_retries(deps.uow, move, description="the trigger schedule kept conflicting")


async def _postpone(
    row: ScheduledFiring, at: datetime, now: datetime, deps: Dependencies, how: str
) -> None:
    """Release the claimed firing until `at`."""
    await run_with_retries(
        deps.uow,
        lambda uow: uow.trigger_schedules.postpone(row, at, now),
        description="the trigger schedule kept conflicting",
    )
    log.info(
        f"scheduled trigger {how}",
        extra={"workspace": row.workspace, "customer": row.customer, "trigger": row.trigger_id},
    )


async def fire_due(
    workspace: str,
    deps: Dependencies,
    is_transient: Callable[[Exception], bool],
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """Fire the scheduled firings whose time came; how many were handled (sent or not).

    The due firings are claimed first (for `lease`), so that of several replicas only
    one fires each. A transient failure leaves the firing for a pass after the lease;
    any other marks it done.
    """
    now = deps.clock()
    due = await run_with_retries(
        deps.uow,
        lambda uow: uow.trigger_schedules.claim_due(workspace, now, DUE_BATCH, lease),
        description="the trigger schedule kept conflicting",
    )
    if not due:
        return 0
    config = await deps.live.get(workspace)
    handled = 0
    for row in due:
        trigger = config.trigger(row.trigger_id)
        reason = ""
        # The firing's key: a replayed firing derives the same decision, send and activity.
        window_key = f"window:{row.customer}:{row.anchor.isoformat()}"
        # Set when the firing ends before the trigger's pipeline (which records its own).
        activity = None
        zone = time_zone(row.time_zone) or UTC_ZONE
        timing = deps.window_timing
        window = trigger if trigger and trigger.kind is TriggerKind.TIME_WINDOW else None
        # A firing after the date (a positive offset) may still be sent until its own day.
        deadline = last_day(row.anchor, window.offset_days) if window else row.anchor
        at = send_time(row.fire_time, deadline, now, timing, zone)
        # Scheduled before the offset (or the fire time of day) changed: the published
        # trigger's time, when later, is the one kept.
        planned = fire_time_of(row.anchor, window.offset_days, timing, zone) if window else None
        if window is None:
            reason = "TRIGGER_GONE"
            activity = trigger_activities.window_activity(
                workspace, row.trigger_id, row.customer, window_key, reason, deps
            )
        elif planned is not None and planned > now:
            await _postpone(row, planned, now, deps, "moved to its redefined fire time")
            handled += 1
            continue
        elif too_late(deadline, now, zone) or at is None:
            reason = "TOO_LATE"  # the window is over before its next local fire time
            activity = trigger_activities.window_activity(
                workspace, row.trigger_id, row.customer, window_key, reason, deps
            )
        elif at > now:
            # Found long after its local fire time (a pass delayed, the service down):
            # it waits for the next one rather than sending at any hour.
            await _postpone(row, at, now, deps, "postponed to its next local fire time")
            handled += 1
            continue
        else:
            event = _event(
                WINDOW_EVENT,
                window_key,
                {"trait": window.date_trait, "date": row.anchor.isoformat()},
            )
            signal = Signal(cursor="", customer=row.customer, event=event)
            try:
                failures = await triggered.fire_all(
                    commands.HandleSignal(workspace, signal), config, event, [window], deps
                )
            except Exception as exc:
                if is_transient(exc):
                    log.warning(
                        "scheduled trigger will be retried",
                        extra={"workspace": workspace, "trigger": window.name},
                    )
                    continue
                log.exception("scheduled trigger failed", extra={"workspace": workspace})
                failures = [triggered.Failure(window.name, f"UNEXPECTED:{type(exc).__name__}")]
                activity = trigger_activities.window_activity(
                    workspace, row.trigger_id, row.customer, window_key, failures[0].reason,
                    deps, ActivityOutcome.FAILED,
                )  # fmt: skip
            reason = ",".join(f.reason for f in failures)
        if reason:
            log.warning(
                "scheduled trigger passed over",
                extra={
                    "workspace": workspace,
                    "customer": row.customer,
                    "error_reason": reason,
                },
            )

        async def done(uow: DecisioningUnitOfWork, row=row, activity=activity) -> None:
            await uow.trigger_schedules.mark_fired(row, now)
            if activity is not None:
                await trigger_activities.add_unless_erased(uow, activity)

        await run_with_retries(deps.uow, done, description="the trigger schedule kept conflicting")
        handled += 1
    return handled


class TriggerScheduler:
    """The background component firing due time-window triggers, every `poll_seconds`;
    `is_transient` tells a failure worth retrying later (trigger_runner.is_transient)."""

    def __init__(
        self,
        deps: Dependencies,
        is_transient: Callable[[Exception], bool],
        *,
        poll_seconds: float = 5.0,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._deps = deps
        self._is_transient = is_transient
        self._poll = poll_seconds
        self._lease = lease

    async def pass_once(self) -> int:
        """One pass over every workspace; how many firings were handled."""
        handled = 0
        for workspace in self._deps.workspaces:
            try:
                while True:
                    done = await fire_due(workspace, self._deps, self._is_transient, self._lease)
                    handled += done
                    if done < DUE_BATCH:
                        break
            except Exception:
                # The scheduler must outlive any one failure (database restart...).
                log.exception("trigger scheduler failed", extra={"workspace": workspace})
        return handled

    async def run(self) -> None:
        while True:
            await self.pass_once()
            await asyncio.sleep(self._poll)
