"""Use cases of the draft's actions: create, get, list, update, delete."""

from __future__ import annotations

import dataclasses
import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.config import MAX_ACTIONS
from rapport.decisioning.domain.model import Action, ActionDraft
from rapport.decisioning.domain.validation import validate_action
from rapport.errors import AlreadyExists, FailedPrecondition, NotFound

from . import commands
from .dependencies import Dependencies
from .draft import apply_paths, check_room, edit_draft, mask_paths
from .listing import list_by_id
from .request_checks import served_name, served_workspace
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

UPDATABLE = frozenset(
    {
        "display_name", "description", "channels", "purpose", "value", "lever",
        "base_propensity", "eligibility", "applicability", "suitability", "content",
        "content.subject", "content.text_body", "content.html_body", "start_time", "end_time",
        "group", "treatments", "tags",
    }
)  # fmt: skip
_ATTRIBUTES = {"group": "group_id"}


def group_id_of(group: str, workspace: str, field: str) -> str:
    """The id of a group named in a request; empty for none."""
    if not group:
        return ""
    return names.require_same_workspace(names.parse_group(group, field), workspace, field).id


async def create_action(cmd: commands.CreateAction, deps: Dependencies) -> Action:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    draft = dataclasses.replace(
        cmd.draft, group_id=group_id_of(cmd.group, workspace, "action.group")
    )

    async def create(uow: DecisioningUnitOfWork) -> Action:
        group = await uow.groups.get(workspace, draft.group_id) if draft.group_id else None
        action = validate_action(
            workspace, cmd.action_id, draft, deps.rules, create_time=deps.clock(), group=group
        )
        if await uow.actions.get(workspace, action.action_id) is not None:
            raise AlreadyExists(action.name)
        check_room(len(await uow.actions.list_all(workspace)), MAX_ACTIONS, "actions")
        await uow.actions.add(action)
        return action

    action = await edit_draft(deps, workspace, create)
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
    workspace = served_workspace(cmd.parent, deps.workspaces)
    group_id = group_id_of(cmd.group, workspace, "group") if cmd.group else None
    return await list_by_id(
        f"ListActions:{cmd.group}",
        cmd,
        deps,
        lambda uow: _GroupFiltered(uow, group_id),
        lambda action: action.action_id,
    )


class _GroupFiltered:
    def __init__(self, uow: DecisioningUnitOfWork, group_id: str | None) -> None:
        self._uow = uow
        self._group_id = group_id

    async def list_page(self, workspace: str, *, after: str | None, limit: int) -> list[Action]:
        return await self._uow.actions.list_page(
            workspace, after=after, limit=limit, group_id=self._group_id
        )


def _updated_draft(
    current: ActionDraft, cmd: commands.UpdateAction, paths: set[str]
) -> ActionDraft:
    draft = apply_paths(current, cmd.draft, paths, _ATTRIBUTES)
    parts = {p.split(".", 1)[1] for p in paths if p.startswith("content.")}
    if parts and "content" not in paths:
        content = dataclasses.replace(
            draft.content, **{part: getattr(cmd.draft.content, part) for part in parts}
        )
        draft = dataclasses.replace(draft, content=content)
    return draft


async def update_action(cmd: commands.UpdateAction, deps: Dependencies) -> Action:
    name = served_name(names.parse_action, cmd.name, deps.workspaces, "action.name")
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")
    group_id = group_id_of(cmd.group, name.workspace, "action.group") if "group" in paths else ""
    update = dataclasses.replace(cmd.draft, group_id=group_id)

    async def change(uow: DecisioningUnitOfWork) -> Action:
        current = await uow.actions.get(name.workspace, name.id)
        if current is None:
            raise NotFound(cmd.name)
        draft = _updated_draft(current.draft(), dataclasses.replace(cmd, draft=update), paths)
        group = await uow.groups.get(name.workspace, draft.group_id) if draft.group_id else None
        action = validate_action(
            name.workspace,
            name.id,
            draft,
            deps.rules,
            create_time=current.create_time,
            group=group,
            update_time=deps.clock(),
        )
        stranded = [
            t.name for t in await uow.triggers.for_action(name.workspace, name.id)
            if t.channel not in action.channels
        ]  # fmt: skip
        if stranded:
            raise FailedPrecondition(
                "ACTION_IN_USE",
                f"triggers send the action on a channel it would lose: {', '.join(stranded)}",
                {"triggers": ",".join(stranded)},
            )
        await uow.actions.put(action)
        return action

    action = await edit_draft(deps, name.workspace, change)
    log.info("action updated", extra={"action": action.name})
    return action


async def delete_action(cmd: commands.DeleteAction, deps: Dependencies) -> None:
    name = served_name(names.parse_action, cmd.name, deps.workspaces)

    async def delete(uow: DecisioningUnitOfWork) -> None:
        if await uow.actions.get(name.workspace, name.id) is None:
            raise NotFound(cmd.name)
        using = [t.name for t in await uow.triggers.for_action(name.workspace, name.id)]
        if using:
            raise FailedPrecondition(
                "ACTION_IN_USE",
                f"triggers send this action; delete or change them first: {', '.join(using)}",
                {"triggers": ",".join(using)},
            )
        await uow.actions.delete(name.workspace, name.id)

    await edit_draft(deps, name.workspace, delete)
    log.info("action deleted", extra={"action": cmd.name})
