"""Use cases of the draft's action groups: create, get, list, update, delete."""

from __future__ import annotations

import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.config import MAX_GROUPS
from rapport.decisioning.domain.model import ActionGroup
from rapport.decisioning.domain.validation import validate_group, validate_label
from rapport.errors import AlreadyExists, FailedPrecondition, NotFound

from . import commands
from .dependencies import Dependencies
from .draft import apply_paths, check_room, edit_draft, mask_paths
from .listing import list_by_id
from .request_checks import served_name, served_workspace
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

UPDATABLE = frozenset(
    {"display_name", "description", "issue", "eligibility", "applicability", "suitability", "lever"}
)


async def create_group(cmd: commands.CreateActionGroup, deps: Dependencies) -> ActionGroup:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    group = validate_group(workspace, cmd.group_id, cmd.draft, deps.rules, create_time=deps.clock())

    async def create(uow: DecisioningUnitOfWork) -> ActionGroup:
        if await uow.groups.get(workspace, group.group_id) is not None:
            raise AlreadyExists(group.name)
        check_room(len(await uow.groups.list_all(workspace)), MAX_GROUPS, "action groups")
        await uow.groups.add(group)
        return group

    await edit_draft(deps, workspace, create)
    log.info("action group created", extra={"resource": group.name})
    return group


async def get_group(cmd: commands.GetActionGroup, deps: Dependencies) -> ActionGroup:
    name = served_name(names.parse_group, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        group = await uow.groups.get(name.workspace, name.id)
    if group is None:
        raise NotFound(cmd.name)
    return group


class _IssueFiltered:
    def __init__(self, uow: DecisioningUnitOfWork, issue: str | None) -> None:
        self._uow = uow
        self._issue = issue

    async def list_page(
        self, workspace: str, *, after: str | None, limit: int
    ) -> list[ActionGroup]:
        return await self._uow.groups.list_page(
            workspace, after=after, limit=limit, issue=self._issue
        )


async def list_groups(
    cmd: commands.ListActionGroups, deps: Dependencies
) -> tuple[list[ActionGroup], str]:
    issue = validate_label(cmd.issue, "issue") if cmd.issue else None
    return await list_by_id(
        f"ListActionGroups:{cmd.issue}",
        cmd,
        deps,
        lambda uow: _IssueFiltered(uow, issue),
        lambda group: group.group_id,
    )


async def update_group(cmd: commands.UpdateActionGroup, deps: Dependencies) -> ActionGroup:
    name = served_name(names.parse_group, cmd.name, deps.workspaces, "action_group.name")
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")

    async def change(uow: DecisioningUnitOfWork) -> ActionGroup:
        current = await uow.groups.get(name.workspace, name.id)
        if current is None:
            raise NotFound(cmd.name)
        group = validate_group(
            name.workspace,
            name.id,
            apply_paths(current.draft(), cmd.draft, paths, {}),
            deps.rules,
            create_time=current.create_time,
            update_time=deps.clock(),
        )
        await uow.groups.put(group)
        return group

    group = await edit_draft(deps, name.workspace, change)
    log.info("action group updated", extra={"resource": group.name})
    return group


async def delete_group(cmd: commands.DeleteActionGroup, deps: Dependencies) -> None:
    name = served_name(names.parse_group, cmd.name, deps.workspaces)

    async def delete(uow: DecisioningUnitOfWork) -> None:
        if await uow.groups.get(name.workspace, name.id) is None:
            raise NotFound(cmd.name)
        members = await uow.actions.ids_in_group(name.workspace, name.id)
        if members:
            shown = [names.action_name(name.workspace, a) for a in members[:20]]
            raise FailedPrecondition(
                "ACTION_GROUP_IN_USE",
                f"{len(members)} action(s) belong to the group; move or delete them first: "
                f"{', '.join(shown)}",
                {"actions": ",".join(shown)},
            )
        await uow.groups.delete(name.workspace, name.id)

    await edit_draft(deps, name.workspace, delete)
    log.info("action group deleted", extra={"resource": cmd.name})
