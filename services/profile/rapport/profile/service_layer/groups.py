"""GetGroup, ListGroups, ListGroupMembers."""

from __future__ import annotations

from dataclasses import dataclass

from rapport.errors import InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.adapters.group_repository import GroupRecord
from rapport.profile.domain import names
from rapport.profile.domain.model import GroupMember, GroupView
from rapport.profile.domain.traits import visible
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies
from .queries import keyset_position
from .unit_of_work import ProfileUnitOfWork


@dataclass(frozen=True)
class GroupPage:
    groups: list[GroupView]
    next_page_token: str


@dataclass(frozen=True)
class MemberPage:
    workspace: str
    members: list[GroupMember]
    next_page_token: str


async def get_group(cmd: commands.GetGroup, deps: Dependencies) -> GroupView:
    ref = names.parse_group(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        found = await _views(
            uow, ref.workspace, await uow.groups.groups_of(ref.workspace, [ref.group_key])
        )
    if not found:
        raise NotFound(cmd.name)
    return found[0]


async def list_groups(cmd: commands.ListGroups, deps: Dependencies) -> GroupPage:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    position = deps.page_tokens.decode(cmd.page_token, bound_to=f"groups:{cmd.parent}")
    before = keyset_position(position, "k", str)
    async with deps.uow(readonly=True) as uow:
        records = await uow.groups.list_groups(workspace, before=before, limit=size + 1)
        page, token = paginate(
            records,
            size,
            lambda r: {"t": r.update_time.isoformat(), "k": r.group_key},
            tokens=deps.page_tokens,
            bound_to=f"groups:{cmd.parent}",
        )
        views = await _views(uow, workspace, {r.group_key: r for r in page})
    return GroupPage(views, token)


async def list_group_members(cmd: commands.ListGroupMembers, deps: Dependencies) -> MemberPage:
    ref = names.parse_group(cmd.group, field="group")
    require_workspace(ref.workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"members:{cmd.group}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    after = None
    if position is not None:
        after = position.get("c")
        if not isinstance(after, str):
            raise InvalidArgument("page_token", "is not a token returned by this method")
    async with deps.uow(readonly=True) as uow:
        if not await uow.groups.groups_of(ref.workspace, [ref.group_key]):
            raise NotFound(cmd.group)
        members = await uow.groups.list_members(
            ref.workspace, ref.group_key, after=after, limit=size + 1
        )
    page, token = paginate(
        members, size, lambda m: {"c": m.customer_id}, tokens=deps.page_tokens, bound_to=bound_to
    )
    return MemberPage(ref.workspace, page, token)


async def _views(
    uow: ProfileUnitOfWork, workspace: str, records: dict[str, GroupRecord]
) -> list[GroupView]:
    """The groups with their visible traits (one read for all), in the records' order."""
    traits = await uow.traits.of_groups.read(workspace, list(records))
    return [
        GroupView(
            workspace,
            key,
            r.group_id,
            visible(traits[key]),
            r.member_count,
            r.create_time,
            r.update_time,
        )
        for key, r in records.items()
    ]
