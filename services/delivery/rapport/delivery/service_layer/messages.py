"""Use cases behind the RPCs: accept a message once per idempotency key, read messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rapport.delivery.domain import names, validation
from rapport.delivery.domain.model import Message
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands, newest_first
from .dependencies import Dependencies
from .unit_of_work import DeliveryUnitOfWork

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    # Empty on the last page.
    next_page_token: str


def _workspace(parent: str, deps: Dependencies) -> str:
    workspace = names.parse_workspace(parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    return workspace


def _customer_id(customer: str, workspace: str) -> str:
    customer_workspace, customer_id = names.parse_customer(customer, field="customer")
    if customer_workspace != workspace:
        raise InvalidArgument("customer", f"must be in {names.workspace_name(workspace)}")
    return customer_id


def _new_message(cmd: commands.SendMessage, deps: Dependencies) -> Message:
    """The message `cmd` asks for, fully validated; nothing is written yet."""
    workspace = _workspace(cmd.parent, deps)
    validation.validate_idempotency_key(cmd.idempotency_key)
    customer_id = _customer_id(cmd.customer, workspace)
    validation.validate_purpose(cmd.purpose)
    channel = validation.require_send_channel(cmd.channel)
    validation.validate_source(cmd.source)
    validation.validate_content(cmd.content, channel)
    validation.validate_data(cmd.data)
    validation.validate_data_for_channel(cmd.data, channel)
    if not deps.can_send(channel, workspace):
        raise FailedPrecondition(
            "CHANNEL_NOT_CONFIGURED",
            f"no provider is configured for channel {channel.value} in this workspace",
            {"channel": channel.value},
        )
    return Message.queue(
        id=deps.new_id(),
        workspace=workspace,
        customer_id=customer_id,
        purpose=cmd.purpose,
        channel=channel,
        idempotency_key=cmd.idempotency_key,
        content=cmd.content,
        data=cmd.data,
        source=cmd.source,
        now=deps.clock(),
    )


def _replay(existing: Message, submitted: Message) -> Message:
    if existing.same_payload(submitted):
        return existing
    raise FailedPrecondition(
        "IDEMPOTENCY_KEY_REUSED",
        "this idempotency key was already used with a different payload",
        {"message": existing.name},
    )


async def send_message(cmd: commands.SendMessage, deps: Dependencies) -> Message:
    # Everything is checked before anything is written.
    message = _new_message(cmd, deps)

    async def accept(uow: DeliveryUnitOfWork) -> tuple[Message, bool]:
        existing = await uow.messages.get_by_idempotency_key(
            message.workspace, message.idempotency_key
        )
        if existing is not None:
            return _replay(existing, message), False
        # A concurrent first submission of the same key may commit first: the insert
        # then fails with a unique violation and the unit is redone, finding it.
        await uow.messages.add(message)
        return message, True

    accepted, queued = await run_with_retries(
        deps.uow_factory,
        accept,
        description="concurrent submissions of this idempotency key kept conflicting; retry",
    )
    if not queued:
        return accepted
    _log.info(
        "message queued",
        extra={
            "message_id": message.id,
            "customer": message.customer_id,
            "channel": str(message.channel),
        },
    )
    deps.dispatch_wakeup.set()
    return message


async def get_message(cmd: commands.GetMessage, deps: Dependencies) -> Message:
    workspace, message_id = names.parse_message(cmd.name, field="name")
    require_workspace(workspace, deps.workspaces)
    async with deps.uow_factory(readonly=True) as uow:
        message = await uow.messages.get(workspace, message_id)
    if message is None:
        raise NotFound(cmd.name)
    return message


async def list_messages(cmd: commands.ListMessages, deps: Dependencies) -> MessagePage:
    workspace = _workspace(cmd.parent, deps)
    customer_id = _customer_id(cmd.customer, workspace) if cmd.customer else None
    size = page_size(cmd.page_size)
    bound_to = f"ListMessages|{cmd.parent}|{cmd.customer}"
    before = newest_first.continue_after(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    async with deps.uow_factory(readonly=True) as uow:
        rows = await uow.messages.list(
            workspace, customer_id=customer_id, before=before, limit=size + 1
        )
    page, next_token = paginate(
        rows, size, newest_first.position, tokens=deps.page_tokens, bound_to=bound_to
    )
    return MessagePage(messages=page, next_page_token=next_token)
