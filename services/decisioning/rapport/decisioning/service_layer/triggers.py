"""Use cases of triggers: create, get, list, and fire the triggers a profile signal matches."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Signal, TrackedEvent, Trigger
from rapport.decisioning.domain.outbound import ConsentQuery, DependencyError, OutboundMessage
from rapport.decisioning.domain.rules import RuleEvaluationError
from rapport.decisioning.domain.validation import validate_resource_id, validate_trigger
from rapport.errors import AlreadyExists, InvalidArgument, NotFound
from rapport.pagination import page_size

from . import commands, paging
from .dependencies import Dependencies
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
    workspace = served_workspace(cmd.parent, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"ListTriggers:{cmd.parent}"
    after = paging.after_id(cmd.page_token, bound_to=bound_to)
    async with deps.uow(readonly=True) as uow:
        triggers = await uow.triggers.list_page(workspace, after=after, limit=size + 1)
    return paging.page_of(
        triggers, size, position=lambda t: {"after": t.trigger_id}, bound_to=bound_to
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


async def handle_signal(cmd: commands.HandleSignal, deps: Dependencies) -> None:
    """Fire every trigger the signal's event matches.

    Transient DependencyErrors propagate (the signal is retried: sends
    already made are deduplicated by their keys); permanent ones skip the
    trigger they concern.
    """
    workspace, signal = cmd.workspace, cmd.signal
    event = signal.event
    if event is None or event.type != TRACK or not event.name:
        return
    async with deps.uow(readonly=True) as uow:
        triggers = await uow.triggers.for_event(workspace, event.name)
        actions = {
            trigger.action_id: await uow.actions.get(workspace, trigger.action_id)
            for trigger in triggers
        }
    if not triggers:
        return
    traits = await deps.profile.get_traits(signal.customer) or {}
    variables = condition_variables(event, signal.customer, traits)
    now = deps.clock()
    for trigger in triggers:
        action = actions.get(trigger.action_id)
        if action is None:
            _skip(trigger, signal, "ACTION_MISSING")
            continue
        if not action.in_window(now):
            _skip(trigger, signal, "OUT_OF_WINDOW")
            continue
        if trigger.channel not in action.channels:
            # The action was replaced (catalogue file) without this channel.
            _skip(trigger, signal, "CHANNEL_MISMATCH")
            continue
        try:
            if not deps.rules.evaluate(trigger.condition, variables):
                continue
        except RuleEvaluationError:
            # The error text may quote values: the reason alone is logged.
            _skip(trigger, signal, "RULE_ERROR")
            continue
        try:
            allowed = await deps.consent.check(
                ConsentQuery(signal.customer, action.purpose, trigger.channel)
            )
            if not allowed:
                _skip(trigger, signal, "NO_CONSENT")
                continue
            sent = await deps.delivery.send(
                OutboundMessage(
                    workspace=workspace,
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
            _skip(trigger, signal, err.reason or err.code)
            continue
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


def _skip(trigger: Trigger, signal: Signal, reason: str) -> None:
    log.info(
        "trigger not sent",
        extra={
            "trigger": trigger.name,
            "customer": signal.customer,
            "cursor": signal.cursor,
            "error_reason": reason,
        },
    )
