"""Use cases of the action catalogue: create, get, list, delete."""

from __future__ import annotations

import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Action
from rapport.decisioning.domain.validation import validate_action
from rapport.errors import AlreadyExists, NotFound

from . import commands
from .dependencies import Dependencies
from .listing import list_by_id
from .request_checks import served_name, served_workspace

log = logging.getLogger(__name__)


async def create_action(cmd: commands.CreateAction, deps: Dependencies) -> Action:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    action = validate_action(
        workspace, cmd.action_id, cmd.draft, deps.rules, create_time=deps.clock()
    )
    async with deps.uow() as uow:
        if not await uow.actions.add(action):
            raise AlreadyExists(action.name)
        await uow.commit()
    log.info("action created", extra={"action": action.name})
    return action


async def get_action(cmd: commands.GetAction, deps: Dependencies) -> Action:
    name = served_name(names.parse_action, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        action = await uow.actions.get(name.workspace, name.id)
    if action is None:
        raise NotFound(cmd.name)
    return action


async def list_actions(cmd: commands.ListActions, deps: Dependencies) -> tuple[list[Action], str]:
    return await list_by_id(
        "ListActions", cmd, deps, lambda uow: uow.actions, lambda action: action.action_id
    )


async def delete_action(cmd: commands.DeleteAction, deps: Dependencies) -> None:
    name = served_name(names.parse_action, cmd.name, deps.workspaces)
    async with deps.uow() as uow:
        if not await uow.actions.delete(name.workspace, name.id):
            raise NotFound(cmd.name)
        # There is no DeleteTrigger: triggers that would send the action go with it.
        removed = await uow.triggers.delete_for_action(name.workspace, name.id)
        await uow.commit()
    log.info("action deleted", extra={"action": cmd.name, "count": removed})
