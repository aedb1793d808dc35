"""Use cases of the in-app inbox: read one, list a customer's, mark one read."""

from __future__ import annotations

from dataclasses import dataclass

from rapport.delivery.domain import names
from rapport.delivery.domain.inbox import InboxMessage
from rapport.errors import NotFound
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace

from . import commands, newest_first
from .dependencies import Dependencies


@dataclass(frozen=True)
class InboxPage:
    inbox_messages: list[InboxMessage]
    # Empty on the last page.
    next_page_token: str


def _parse_name(name: str, deps: Dependencies) -> tuple[str, str, str]:
    workspace, customer_id, message_id = names.parse_inbox_message(name, field="name")
    require_workspace(workspace, deps.workspaces)
    return workspace, customer_id, message_id


async def get_inbox_message(cmd: commands.GetInboxMessage, deps: Dependencies) -> InboxMessage:
    ids = _parse_name(cmd.name, deps)
    async with deps.uow_factory(readonly=True) as uow:
        found = await uow.inbox.get(*ids)
    if found is None:
        raise NotFound(cmd.name)
    return found


async def list_inbox_messages(cmd: commands.ListInboxMessages, deps: Dependencies) -> InboxPage:
    workspace, customer_id = names.parse_customer(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"ListInboxMessages|{cmd.parent}|{cmd.unread_only}"
    before = newest_first.continue_after(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    async with deps.uow_factory(readonly=True) as uow:
        rows = await uow.inbox.list(
            workspace, customer_id, unread_only=cmd.unread_only, before=before, limit=size + 1
        )
    page, next_token = paginate(
        rows, size, newest_first.position, tokens=deps.page_tokens, bound_to=bound_to
    )
    return InboxPage(inbox_messages=page, next_page_token=next_token)


async def mark_inbox_message_read(
    cmd: commands.MarkInboxMessageRead, deps: Dependencies
) -> InboxMessage:
    ids = _parse_name(cmd.name, deps)
    async with deps.uow_factory() as uow:
        found = await uow.inbox.get(*ids)
        if found is None:
            raise NotFound(cmd.name)
        if found.mark_read(deps.clock()):
            await uow.inbox.save_read_time(found)
            await uow.commit()
    return found
