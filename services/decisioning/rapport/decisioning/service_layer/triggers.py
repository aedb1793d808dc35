"""Use cases of the draft's triggers: create, get, list, update, delete (firing: triggered)."""

from __future__ import annotations

import dataclasses
import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.config import MAX_TRIGGERS
from rapport.decisioning.domain.model import Trigger
from rapport.decisioning.domain.validation import validate_resource_id, validate_trigger
from rapport.errors import AlreadyExists, InvalidArgument, NotFound

from . import commands
from .dependencies import Dependencies
from .draft import apply_paths, check_room, edit_draft, mask_paths
from .listing import list_by_id
from .request_checks import served_name, served_workspace
from .segment_checks import SegmentCheck, edit_draft_with_segments
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

UPDATABLE = frozenset(
    {
        "event_name",
        "condition",
        "action",
        "channel",
        "kind",
        "segment",
        "life_stage",
        "date_trait",
        "offset_days",
        "years_after",
        "throttle",
        "best_channel",
    }
)
_ATTRIBUTES = {"action": "action_id"}


def _action_id(action: str, workspace: str) -> str:
    field = "trigger.action"
    if not action:
        raise InvalidArgument(field, "is required")
    return names.require_same_workspace(names.parse_action(action, field), workspace, field).id


async def create_trigger(cmd: commands.CreateTrigger, deps: Dependencies) -> Trigger:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    validate_resource_id(cmd.trigger_id, "trigger_id")
    draft = dataclasses.replace(cmd.draft, action_id=_action_id(cmd.action, workspace))

    async def create(uow: DecisioningUnitOfWork, segments: SegmentCheck) -> Trigger:
        action = await uow.actions.get(workspace, draft.action_id)
        trigger = validate_trigger(
            workspace, cmd.trigger_id, draft, action, deps.rules, create_time=deps.clock()
        )
        if await uow.triggers.get(workspace, trigger.trigger_id) is not None:
            raise AlreadyExists(trigger.name)
        check_room(len(await uow.triggers.list_all(workspace)), MAX_TRIGGERS, "triggers")
        segments.require([trigger], "trigger.segment")
        await uow.triggers.add(trigger)
        return trigger

    trigger = await edit_draft_with_segments(deps, workspace, create)
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


async def update_trigger(cmd: commands.UpdateTrigger, deps: Dependencies) -> Trigger:
    name = served_name(names.parse_trigger, cmd.name, deps.workspaces, "trigger.name")
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")
    action_id = _action_id(cmd.action, name.workspace) if "action" in paths else ""
    update = dataclasses.replace(cmd.draft, action_id=action_id)

    async def change(uow: DecisioningUnitOfWork, segments: SegmentCheck) -> Trigger:
        current = await uow.triggers.get(name.workspace, name.id)
        if current is None:
            raise NotFound(cmd.name)
        draft = apply_paths(current.draft(), update, paths, _ATTRIBUTES)
        trigger = validate_trigger(
            name.workspace,
            name.id,
            draft,
            await uow.actions.get(name.workspace, draft.action_id),
            deps.rules,
            create_time=current.create_time,
            update_time=deps.clock(),
        )
        segments.require([trigger], "trigger.segment")
        await uow.triggers.put(trigger)
        return trigger

    trigger = await edit_draft_with_segments(deps, name.workspace, change)
    log.info("trigger updated", extra={"trigger": trigger.name})
    return trigger


async def delete_trigger(cmd: commands.DeleteTrigger, deps: Dependencies) -> None:
    name = served_name(names.parse_trigger, cmd.name, deps.workspaces)

    async def delete(uow: DecisioningUnitOfWork) -> None:
        if not await uow.triggers.delete(name.workspace, name.id):
            raise NotFound(cmd.name)

    await edit_draft(deps, name.workspace, delete)
    log.info("trigger deleted", extra={"trigger": cmd.name})
