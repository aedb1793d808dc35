"""Firing the triggers a profile signal matches: signal -> decision -> send.

Each matching trigger whose condition holds asks the same decision pipeline as
Decide about its action on its channel (so eligibility, contact limits and consent
all apply) and stores the decision, `source` = the trigger. Only when the action is
chosen is it sent, with an idempotency key of trigger and event. The decision's id
derives from trigger, customer and event too: a replayed signal finds its decision
and sends the same message again, which delivery deduplicates.

Every trigger whose condition held (or could not be evaluated) leaves a trigger activity
(trigger_activities.py): sent, skipped or failed, and why.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from rapport.decisioning.adapters.experiment_repository import SentMessage
from rapport.decisioning.domain.checks import is_event_name
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.model import Channel, Decision, Signal, TrackedEvent, Trigger
from rapport.decisioning.domain.outbound import CustomerProfile, DependencyError, OutboundMessage
from rapport.decisioning.domain.pipeline import DecisionRequest
from rapport.decisioning.domain.rule_helpers import helper_functions
from rapport.decisioning.domain.rules import RuleEvaluationError
from rapport.decisioning.domain.trigger_activity import (
    ActivityOutcome,
    TriggerActivity,
    skip_reason,
)
from rapport.errors import NotFound
from rapport.sqlstore import run_with_retries

from . import commands, trigger_activities
from .attribution import attribute_event
from .channel_offer import hold_offer, settle_channel
from .decision_making import customer_zone, make_decision, triggered_decision_id
from .dependencies import Dependencies
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

TRACK = "track"


def condition_variables(event: TrackedEvent, profile: CustomerProfile) -> dict[str, Any]:
    """What trigger conditions see: `event` and `profile`."""
    return {
        "event": {
            "name": event.name,
            "properties": event.properties,
            "context": event.context,
            "message_id": event.message_id,
        },
        "profile": profile.rule_variable(),
    }


@dataclasses.dataclass(frozen=True)
class Failure:
    """A trigger that cannot act on a signal, however often it is retried.

    `trigger` is the trigger's name (names, comma-separated, when one cause stops several
    triggers); empty when the signal itself cannot be used.
    """

    trigger: str
    reason: str


def _reason(err: DependencyError) -> str:
    return f"{err.service}:{err.reason or err.code}"


def attributable_event(signal: Signal) -> TrackedEvent | None:
    """The tracked event of a readable event signal, which handle_signal attributes."""
    event = signal.event
    # A name no trigger may have (too long, NUL...) is not even looked up.
    if signal.unreadable or event is None or event.type != TRACK:
        return None
    return event if is_event_name(event.name) else None


async def handle_signal(cmd: commands.HandleSignal, deps: Dependencies) -> list[Failure]:
    """Fire every trigger the signal's event matches; returns what failed for good.

    Transient DependencyErrors propagate (the signal is retried: decisions already
    stored are found again, sends already made are deduplicated by their keys). An
    unreadable signal, a definite DependencyError and a condition that fails are
    Failures, one per trigger they concern, for the runner to record before it moves
    past the signal.
    """
    signal = cmd.signal
    if signal.unreadable:
        return [Failure("", signal.unreadable)]
    event = attributable_event(signal)
    if event is None:
        return []
    if not cmd.attributed:
        await attribute_event(cmd.workspace, signal.customer, event, deps)
    config = await deps.live.get(cmd.workspace)
    return await fire_all(cmd, config, event, config.triggers_for_event(event.name), deps)


async def fire_all(
    cmd: commands.HandleSignal,
    config: DecisionConfig,
    event: TrackedEvent,
    triggers: list[Trigger],
    deps: Dependencies,
) -> list[Failure]:
    """Fire `triggers` for the signal's customer (`event` is what conditions see)."""
    signal = cmd.signal
    if not triggers:
        return []
    try:
        profile = await deps.profile.get_profile(signal.customer)
    except DependencyError as err:
        if err.transient:
            raise
        for trigger in triggers:
            await _note(cmd, event, trigger, ActivityOutcome.FAILED, _reason(err), deps)
        return [Failure(trigger.name, _reason(err)) for trigger in triggers]
    if profile is None:
        # Unknown or erased: nobody to decide for, nobody to contact.
        for trigger in triggers:
            await _skip(cmd, event, trigger, "PROFILE_NOT_FOUND", deps)
        return []
    failures = []
    for trigger in triggers:
        reason = await _fire(cmd, config, event, trigger, profile, deps)
        if reason:
            failures.append(Failure(trigger.name, reason))
    return failures


async def _decide(
    cmd: commands.HandleSignal,
    config: DecisionConfig,
    event: TrackedEvent,
    trigger: Trigger,
    profile: CustomerProfile,
    deps: Dependencies,
) -> tuple[Decision, bool]:
    """The trigger's decision on the signal, and whether it was made now (False: a
    replay found it stored)."""
    customer = cmd.signal.customer
    decision_id = triggered_decision_id(trigger.trigger_id, customer, event.message_id)
    async with deps.uow(readonly=True) as uow:
        existing = await uow.decisions.get(cmd.workspace, decision_id)
    if existing is not None:
        return existing, False
    request = DecisionRequest(
        customer=customer,
        context={},
        # With best_channel, any of the action's channels; delivery picks among them.
        requested_channel=None if trigger.best_channel else trigger.channel,
        max_actions=1,
        now=deps.clock(),
        zone=customer_zone(deps, profile),
        scope=trigger.action_id,
        signal=event,
    )
    action = trigger.action_name

    def skipped(decision: Decision) -> TriggerActivity | None:
        reason = skip_reason(decision, action)
        if reason is None:
            return None  # chosen: the activity follows the send
        return trigger_activities.activity_of(
            cmd.workspace, trigger, cmd.signal, event, ActivityOutcome.SKIPPED, reason, deps,
            decision_id=decision.decision_id,
        )  # fmt: skip

    decision = await make_decision(
        deps,
        cmd.workspace,
        config,
        profile,
        request,
        decision_id=decision_id,
        source=trigger.name,
        activity=skipped,
    )
    return decision, True


async def _fire(
    cmd: commands.HandleSignal,
    config: DecisionConfig,
    event: TrackedEvent,
    trigger: Trigger,
    profile: CustomerProfile,
    deps: Dependencies,
) -> str:
    """Decide about the trigger's action and send it if chosen; the reason it failed for
    good, or ''. Whatever came of it, unless the condition was false, is an activity."""
    signal = cmd.signal
    action = config.action(trigger.action_id)
    if action is None:
        # A published version always holds its triggers' actions.
        await _note(cmd, event, trigger, ActivityOutcome.FAILED, "ACTION_MISSING", deps)
        return "ACTION_MISSING"
    zone = customer_zone(deps, profile)
    helpers = helper_functions(deps.clock().astimezone(zone).date(), zone)
    try:
        if not deps.rules.evaluate(trigger.condition, condition_variables(event, profile), helpers):
            return ""
    except RuleEvaluationError:
        # The error text may quote values: the reason alone is logged and recorded.
        await _note(cmd, event, trigger, ActivityOutcome.FAILED, "RULE_ERROR", deps)
        return "RULE_ERROR"
    if await _throttled(cmd, event, trigger, deps):
        await _skip(cmd, event, trigger, "THROTTLED", deps)
        return ""
    decision: Decision | None = None
    try:
        decision, made_now = await _decide(cmd, config, event, trigger, profile, deps)
        if not decision.actions:
            reason = skip_reason(decision, action.name) or "NOT_CHOSEN"
            # Made now: its activity was stored with it. Found again (a replay): stored
            # unless it was then too.
            await _skip(
                cmd, event, trigger, reason, deps,
                decision_id=decision.decision_id, store=not made_now,
            )  # fmt: skip
            return ""
        chosen = decision.actions[0]
        offered = (
            await hold_offer(deps, cmd.workspace, config, decision, action)
            if trigger.best_channel
            else ()
        )
        sent = await deps.delivery.send(
            OutboundMessage(
                workspace=cmd.workspace,
                idempotency_key=trigger.idempotency_key(event.message_id),
                customer=signal.customer,
                purpose=action.purpose,
                channel=chosen.channel,
                content=action.content
                if trigger.best_channel
                else action.content_for(chosen.channel),
                source=trigger.name,
                data={"event": event.properties, "decision": decision.name},
                best_channel=trigger.best_channel,
                candidate_channels=offered,
            )
        )
        if offered and sent.channel is not None:
            await settle_channel(
                deps, cmd.workspace, signal.customer, decision.decision_id, chosen.action,
                sent.channel,
            )  # fmt: skip
        activity = trigger_activities.activity_of(
            cmd.workspace, trigger, signal, event, ActivityOutcome.SENT, "", deps,
            decision_id=decision.decision_id, message=sent.name,
        )  # fmt: skip
        await _link(
            cmd.workspace, sent.name, decision, sent.channel or chosen.channel, activity, deps
        )
        if trigger.throttle is not None:
            await _record_fire(cmd.workspace, trigger, signal.customer, decision, deps)
    except DependencyError as err:
        if err.transient:
            raise
        await _note(
            cmd, event, trigger, ActivityOutcome.FAILED, _reason(err), deps,
            decision_id=decision.decision_id if decision is not None else "",
        )  # fmt: skip
        return _reason(err)
    except NotFound:
        # Erased since the profile was read: the decision (or the offer's contacts) was
        # refused, nothing stored and nothing sent (nor is the activity: erased).
        await _skip(cmd, event, trigger, "PROFILE_NOT_FOUND", deps)
        return ""
    log.info(
        "trigger sent",
        extra={
            "trigger": trigger.name,
            "customer": signal.customer,
            "resource": sent.name,
            "decision": decision.name,
            "message_id": event.message_id,
            "status": sent.state,
        },
    )
    return ""


async def _throttled(
    cmd: commands.HandleSignal, event: TrackedEvent, trigger: Trigger, deps: Dependencies
) -> bool:
    """Whether the trigger sent to the customer within its throttle (a replay of the signal
    that sent is not throttled: delivery deduplicates it)."""
    if trigger.throttle is None:
        return False
    customer = cmd.signal.customer
    decision_id = triggered_decision_id(trigger.trigger_id, customer, event.message_id)
    async with deps.uow(readonly=True) as uow:
        if await uow.decisions.get(cmd.workspace, decision_id) is not None:
            return False
        last = await uow.trigger_fires.last(cmd.workspace, trigger.trigger_id, customer)
    return last is not None and deps.clock() - last < trigger.throttle


async def _link(
    workspace: str,
    message: str,
    decision: Decision,
    channel: Channel,
    activity: TriggerActivity,
    deps: Dependencies,
) -> None:
    """Remember which decision had `message` sent, so its status events become outcomes,
    and the trigger's activity, in one transaction."""
    sent = SentMessage(
        workspace=workspace,
        message=message,
        decision_id=decision.decision_id,
        customer=decision.customer,
        action=decision.actions[0].action,
        channel=channel,
        create_time=deps.clock(),
    )

    async def add(uow: DecisioningUnitOfWork) -> None:
        # Not for a customer erased since the send (delivery erases its message).
        if not await uow.erased_customers.erased_under_lock(workspace, decision.customer):
            if message:
                await uow.sent_messages.add_if_absent(sent)
            await uow.trigger_activities.add_if_absent(activity)

    await run_with_retries(deps.uow, add, description="the sent message link kept conflicting")


async def _record_fire(
    workspace: str, trigger: Trigger, customer: str, decision: Decision, deps: Dependencies
) -> None:
    """Remember when the trigger sent to the customer (its throttle); not once erased."""

    async def record(uow: DecisioningUnitOfWork) -> None:
        if not await uow.erased_customers.erased_under_lock(workspace, customer):
            await uow.trigger_fires.record(
                workspace, trigger.trigger_id, customer, decision.create_time
            )

    await run_with_retries(deps.uow, record, description="the trigger's throttle kept conflicting")


async def _note(
    cmd: commands.HandleSignal,
    event: TrackedEvent,
    trigger: Trigger,
    outcome: ActivityOutcome,
    reason: str,
    deps: Dependencies,
    *,
    decision_id: str = "",
) -> None:
    """Store the trigger's activity on the signal (gathered with the runner's cursor, or
    a small transaction of its own: trigger_activities.record)."""
    await trigger_activities.record(
        deps,
        trigger_activities.activity_of(
            cmd.workspace, trigger, cmd.signal, event, outcome, reason, deps,
            decision_id=decision_id,
        ),
    )  # fmt: skip


async def _skip(
    cmd: commands.HandleSignal,
    event: TrackedEvent,
    trigger: Trigger,
    reason: str,
    deps: Dependencies,
    *,
    decision_id: str = "",
    store: bool = True,
) -> None:
    """The trigger does not send (a business rule, not a failure): logged, and its
    activity stored (unless `store` is False: stored already)."""
    signal = cmd.signal
    log.info(
        "trigger not sent",
        extra={
            "trigger": trigger.name,
            "customer": signal.customer,
            "cursor": signal.cursor,
            "error_reason": reason,
        },
    )
    if store:
        await _note(
            cmd, event, trigger, ActivityOutcome.SKIPPED, reason, deps, decision_id=decision_id
        )
