"""Use cases of triggers: create, get, list, and fire the triggers a profile signal matches."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Action, Signal, TrackedEvent, Trigger
from rapport.decisioning.domain.outbound import ConsentQuery, DependencyError, OutboundMessage
from rapport.decisioning.domain.rules import RuleEvaluationError
from rapport.decisioning.domain.validation import (
    is_event_name,
    validate_resource_id,
    validate_trigger,
)
from rapport.errors import AlreadyExists, InvalidArgument, NotFound

from . import commands
from .dependencies import Dependencies
from .listing import list_by_id
from .request_checks import served_name, served_workspace

log = logging.getLogger(__name__)

TRACK = "track"


async def create_trigger(cmd: commands.CreateTrigger, deps: Dependencies) -> Trigger:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    validate_resource_id(cmd.trigger_id, "trigger_id")
    if not cmd.action:
        raise InvalidArgument("trigger.action", "is required")
    action_id = names.require_same_workspace(
        names.parse_action(cmd.action, "trigger.action"), workspace, "trigger.action"
    ).id
    draft = dataclasses.replace(cmd.draft, action_id=action_id)
    async with deps.uow() as uow:
        action = await uow.actions.get(workspace, action_id)
        trigger = validate_trigger(
            workspace, cmd.trigger_id, draft, action, deps.rules, create_time=deps.clock()
        )
        if not await uow.triggers.add(trigger):
            raise AlreadyExists(trigger.name)
        await uow.commit()
    log.info("trigger created", extra={"trigger": trigger.name})
    return trigger


async def get_trigger(cmd: commands.GetTrigger, deps: Dependencies) -> Trigger:
    name = served_name(names.parse_trigger, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        trigger = await uow.triggers.get(name.workspace, name.id)
    if trigger is None:
        raise NotFound(cmd.name)
    return trigger


async def list_triggers(
    cmd: commands.ListTriggers, deps: Dependencies
) -> tuple[list[Trigger], str]:
    return await list_by_id(
        "ListTriggers", cmd, deps, lambda uow: uow.triggers, lambda trigger: trigger.trigger_id
    )


# -- firing --------------------------------------------------------------------------


def condition_variables(
    event: TrackedEvent, customer: str, traits: dict[str, Any]
) -> dict[str, Any]:
    """What trigger conditions see: `event` and `profile`."""
    return {
        "event": {
            "name": event.name,
            "properties": event.properties,
            "context": event.context,
            "message_id": event.message_id,
        },
        "profile": {"traits": traits, "customer": customer},
    }


@dataclasses.dataclass(frozen=True)
class Failure:
    """A trigger that cannot act on a signal, however often it is retried.

    `trigger` is the trigger's name; empty when the signal itself cannot be used.
    """

    trigger: str
    reason: str


def _reason(err: DependencyError) -> str:
    return f"{err.service}:{err.reason or err.code}"


async def handle_signal(cmd: commands.HandleSignal, deps: Dependencies) -> list[Failure]:
    """Fire every trigger the signal's event matches; returns what failed for good.

    Transient DependencyErrors propagate (the signal is retried: sends already
    made are deduplicated by their keys). An unreadable signal, a definite
    DependencyError and a rule that fails are Failures, one per trigger they
    concern, for the runner to record before it moves past the signal.
    """
    signal = cmd.signal
    if signal.unreadable:
        return [Failure("", signal.unreadable)]
    event = signal.event
    # A name no trigger may have (too long, NUL...) is not even looked up.
    if event is None or event.type != TRACK or not is_event_name(event.name):
        return []
    async with deps.uow(readonly=True) as uow:
        triggers = await uow.triggers.for_event(cmd.workspace, event.name)
        actions = {
            trigger.action_id: await uow.actions.get(cmd.workspace, trigger.action_id)
            for trigger in triggers
        }
    if not triggers:
        return []
    try:
        traits = await deps.profile.get_traits(signal.customer) or {}
    except DependencyError as err:
        if err.transient:
            raise
        return [Failure(trigger.name, _reason(err)) for trigger in triggers]
    variables = condition_variables(event, signal.customer, traits)
    failures = []
    for trigger in triggers:
        reason = await _fire(cmd, event, trigger, actions.get(trigger.action_id), variables, deps)
        if reason:
            failures.append(Failure(trigger.name, reason))
    return failures


async def _fire(
    cmd: commands.HandleSignal,
    event: TrackedEvent,
    trigger: Trigger,
    action: Action | None,
    variables: dict[str, Any],
    deps: Dependencies,
) -> str:
    """Send the trigger's action if it applies; the reason it failed for good, or ''."""
    signal = cmd.signal
    if action is None:
        return "ACTION_MISSING"  # the trigger outlived its action
    if not action.in_window(deps.clock()):
        _skip(trigger, signal, "OUT_OF_WINDOW")
        return ""
    if trigger.channel not in action.channels:
        # The action was replaced (catalogue file) without this channel.
        _skip(trigger, signal, "CHANNEL_MISMATCH")
        return ""
    try:
        if not deps.rules.evaluate(trigger.condition, variables):
            return ""
    except RuleEvaluationError:
        # The error text may quote values: the reason alone is logged.
        return "RULE_ERROR"
    try:
        allowed = await deps.consent.check(
            ConsentQuery(signal.customer, action.purpose, trigger.channel)
        )
        if not allowed:
            _skip(trigger, signal, "NO_CONSENT")
            return ""
        sent = await deps.delivery.send(
            OutboundMessage(
                workspace=cmd.workspace,
                idempotency_key=trigger.idempotency_key(event.message_id),
                customer=signal.customer,
                purpose=action.purpose,
                channel=trigger.channel,
                content=action.content,
                source=trigger.name,
                data={"event": event.properties},
            )
        )
    except DependencyError as err:
        if err.transient:
            raise
        return _reason(err)
    log.info(
        "trigger sent",
        extra={
            "trigger": trigger.name,
            "customer": signal.customer,
            "resource": sent.name,
            "message_id": event.message_id,
            "status": sent.state,
        },
    )
    return ""


def _skip(trigger: Trigger, signal: Signal, reason: str) -> None:
    """The trigger does not apply (a business rule, not a failure)."""
    log.info(
        "trigger not sent",
        extra={
            "trigger": trigger.name,
            "customer": signal.customer,
            "cursor": signal.cursor,
            "error_reason": reason,
        },
    )
