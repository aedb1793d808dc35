"""Trigger activities: recording what each trigger did for a customer, reading them back,
and forgetting them after the retention.

A skipped decision's activity is stored in the decision's own transaction
(decision_making.make_decision), a sent message's with the link from the message to its
decision (triggered._link). The others (throttled, rule error, a peer's refusal, profile
not found...) write nothing else: the trigger runner gathers them (`collecting`) and
stores them in the transaction that stores its batch's cursor, so a signal that only
leaves such an activity costs no transaction of its own (a crash before the cursor is
stored replays the batch, which notes them again); elsewhere (the JetStream consumer,
time-window firings) each is a small transaction. Each insert is skipped for a customer
erased meanwhile (under the customer's lock, as every per-customer write), and does
nothing when the activity exists: a replayed signal keeps its first activity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Signal, TrackedEvent, Trigger, TriggerKind
from rapport.decisioning.domain.signals import SignalKind
from rapport.decisioning.domain.trigger_activity import (
    ActivityOutcome,
    ActivitySignal,
    SignalRef,
    TriggerActivity,
    activity_id,
    reason_code,
)
from rapport.errors import InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from .commands import UnknownEnumValue
from .dependencies import Dependencies
from .listing import newest_first_position, page_before
from .request_checks import served_name
from .trigger_activity_commands import GetTriggerActivity, ListTriggerActivities
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

# Activities deleted per transaction by the retention's pruning: short transactions,
# whatever the backlog.
PRUNE_BATCH = 1000

_SIGNAL_KINDS = {
    SignalKind.EVENT_SEEN: ActivitySignal.EVENT_SEEN,
    SignalKind.TRAIT_CHANGED: ActivitySignal.TRAIT_CHANGED,
    SignalKind.SEGMENT_ENTERED: ActivitySignal.SEGMENT_ENTERED,
    SignalKind.SEGMENT_EXITED: ActivitySignal.SEGMENT_EXITED,
    SignalKind.LIFE_STAGE_CHANGED: ActivitySignal.LIFE_STAGE_CHANGED,
}


def signal_ref(trigger_kind: TriggerKind, signal: Signal, event: TrackedEvent) -> SignalRef:
    """How an activity shows the signal a trigger fired on (`event`: what its condition
    saw). A time window's key holds the date trait's value: only its kind is shown."""
    if trigger_kind is TriggerKind.TIME_WINDOW:
        return SignalRef(ActivitySignal.TIME_WINDOW)
    kind = _SIGNAL_KINDS.get(signal.kind, ActivitySignal.EVENT_SEEN)
    message_id = event.message_id if kind is ActivitySignal.EVENT_SEEN else ""
    return SignalRef(kind, signal.cursor, message_id)


def activity_of(
    workspace: str,
    trigger: Trigger,
    signal: Signal,
    event: TrackedEvent,
    outcome: ActivityOutcome,
    reason: str,
    deps: Dependencies,
    *,
    decision_id: str = "",
    message: str = "",
) -> TriggerActivity:
    """The activity of `trigger` on the signal (`event.message_id`: the signal's key, as
    the trigger's decision and idempotency key derive from it)."""
    return TriggerActivity(
        workspace=workspace,
        trigger_id=trigger.trigger_id,
        activity_id=activity_id(trigger.trigger_id, signal.customer, event.message_id),
        customer=signal.customer,
        signal=signal_ref(trigger.kind, signal, event),
        outcome=outcome,
        reason=reason_code(reason),
        create_time=deps.clock(),
        decision_id=decision_id,
        message=message,
    )


def window_activity(
    workspace: str,
    trigger_id: str,
    customer: str,
    window_key: str,
    reason: str,
    deps: Dependencies,
    outcome: ActivityOutcome = ActivityOutcome.SKIPPED,
) -> TriggerActivity:
    """The activity of a time-window firing that never reached the trigger's pipeline
    (too late, its trigger gone, a failure nobody expected); `window_key` as its firing's
    event message id."""
    return TriggerActivity(
        workspace=workspace,
        trigger_id=trigger_id,
        activity_id=activity_id(trigger_id, customer, window_key),
        customer=customer,
        signal=SignalRef(ActivitySignal.TIME_WINDOW),
        outcome=outcome,
        reason=reason_code(reason),
        create_time=deps.clock(),
    )


def not_a_date_activity(
    workspace: str, trigger: Trigger, signal: Signal, reason: str, deps: Dependencies
) -> TriggerActivity:
    """The activity of a time window whose date trait changed to a value not a date."""
    return TriggerActivity(
        workspace=workspace,
        trigger_id=trigger.trigger_id,
        activity_id=activity_id(trigger.trigger_id, signal.customer, f"trait:{signal.cursor}"),
        customer=signal.customer,
        signal=SignalRef(ActivitySignal.TRAIT_CHANGED, signal.cursor),
        outcome=ActivityOutcome.FAILED,
        reason=reason_code(reason),
        create_time=deps.clock(),
    )


async def add_unless_erased(uow: DecisioningUnitOfWork, activity: TriggerActivity) -> None:
    """Insert the activity in `uow` unless its customer was erased (checked under the
    customer's lock: an activity cannot outlive an erasure)."""
    if not await uow.erased_customers.erased_under_lock(activity.workspace, activity.customer):
        await uow.trigger_activities.add_if_absent(activity)


async def add_all_unless_erased(
    uow: DecisioningUnitOfWork, activities: Sequence[TriggerActivity]
) -> None:
    """As add_unless_erased, for many (a replayed signal's repeats: the first is kept)."""
    if not activities:
        return
    erased = await uow.erased_customers.among_under_lock(
        {(a.workspace, a.customer) for a in activities}
    )
    kept: dict[tuple[str, str, str], TriggerActivity] = {}
    for a in activities:
        if (a.workspace, a.customer) not in erased:
            kept.setdefault((a.workspace, a.trigger_id, a.activity_id), a)
    await uow.trigger_activities.add_many_if_absent(list(kept.values()))


# The activities gathered by the task that handles a batch of signals (None: not one).
_gathered: ContextVar[list[TriggerActivity] | None] = ContextVar(
    "trigger_activities_gathered", default=None
)


@contextmanager
def collecting() -> Iterator[list[TriggerActivity]]:
    """Within: activities `record` is given are gathered in the list instead of each
    stored at once; the caller stores them (add_all_unless_erased) before it moves past
    the signals they concern."""
    gathered: list[TriggerActivity] = []
    token = _gathered.set(gathered)
    try:
        yield gathered
    finally:
        _gathered.reset(token)


async def record(deps: Dependencies, activity: TriggerActivity) -> None:
    """Store one activity in a transaction of its own, or gather it (`collecting`)."""
    gathered = _gathered.get()
    if gathered is not None:
        gathered.append(activity)
        return
    await run_with_retries(
        deps.uow,
        lambda uow: add_unless_erased(uow, activity),
        description="recording the trigger activity kept conflicting",
    )


async def store_with_cursor(
    deps: Dependencies, workspace: str, cursor: str, activities: Sequence[TriggerActivity]
) -> None:
    """Store the trigger runner's cursor in the workspace's signals and the activities
    gathered while it handled the signals up to there, in one transaction."""
    now = deps.clock()

    async def save(uow: DecisioningUnitOfWork) -> None:
        await add_all_unless_erased(uow, activities)
        await uow.signal_cursors.save(workspace, cursor, now)

    await run_with_retries(
        deps.uow, save, description="the signal cursor kept conflicting with another replica"
    )


# -- reading ---------------------------------------------------------------------------


async def get_trigger_activity(cmd: GetTriggerActivity, deps: Dependencies) -> TriggerActivity:
    name = names.parse_trigger_activity(cmd.name, "name")
    require_workspace(name.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        activity = await uow.trigger_activities.get(
            name.workspace, name.trigger_id, name.activity_id
        )
    if activity is None:
        raise NotFound(cmd.name)
    return activity


def _outcome(value: ActivityOutcome | UnknownEnumValue | None) -> ActivityOutcome | None:
    if isinstance(value, UnknownEnumValue):
        raise InvalidArgument("outcome", "is not a known trigger activity outcome")
    return value


async def list_trigger_activities(
    cmd: ListTriggerActivities, deps: Dependencies
) -> tuple[list[TriggerActivity], str]:
    parent = served_name(names.parse_activity_parent, cmd.parent, deps.workspaces, "parent")
    customer = None
    if cmd.customer:
        names.require_same_workspace(
            names.parse_customer(cmd.customer, "customer"), parent.workspace, "customer"
        )
        customer = cmd.customer
    outcome = _outcome(cmd.outcome)
    size = page_size(cmd.page_size)
    bound_to = (
        f"ListTriggerActivities:{cmd.parent}:{cmd.customer}:{outcome.value if outcome else ''}"
    )
    before = page_before(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    async with deps.uow(readonly=True) as uow:
        activities = await uow.trigger_activities.list_page(
            parent.workspace,
            trigger_id=None if parent.id == names.ALL_TRIGGERS else parent.id,
            customer=customer,
            outcome=outcome,
            before=before,
            limit=size + 1,
        )
    return paginate(
        activities,
        size,
        lambda a: newest_first_position(a.create_time, a.activity_id),
        tokens=deps.page_tokens,
        bound_to=bound_to,
    )


# -- retention -------------------------------------------------------------------------


async def prune_trigger_activities(deps: Dependencies, retention: timedelta) -> int:
    """Delete every activity older than `retention`, in batches; how many were."""
    made_before = deps.clock() - retention
    pruned = 0
    for workspace in sorted(deps.workspaces):
        while True:
            async with deps.uow() as uow:
                removed = await uow.trigger_activities.prune(
                    workspace, made_before=made_before, limit=PRUNE_BATCH
                )
                await uow.commit()
            pruned += removed
            if removed < PRUNE_BATCH:
                break
    return pruned


class TriggerActivityPruner:
    """Prunes activities past the retention every `interval_seconds` (a background
    component). Every replica may run it: deleting what expired is the same whoever
    does it first."""

    def __init__(
        self, deps: Dependencies, *, retention: timedelta, interval_seconds: float
    ) -> None:
        self._deps = deps
        self._retention = retention
        self._interval = interval_seconds

    async def run(self) -> None:
        while True:
            try:
                pruned = await prune_trigger_activities(self._deps, self._retention)
            except Exception as err:
                # The next round tries again.
                log.error(
                    "pruning trigger activities failed",
                    extra={"error_reason": type(err).__name__},
                )
            else:
                if pruned:
                    log.info(
                        "pruned expired", extra={"resource": "trigger_activities", "count": pruned}
                    )
            await asyncio.sleep(self._interval)
