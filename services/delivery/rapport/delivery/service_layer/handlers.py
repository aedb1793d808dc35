"""Use cases behind the RPCs: accept a message once per idempotency key, read messages."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from rapport import pagination
from rapport.delivery.domain import templates, validation
from rapport.delivery.domain.model import (
    CUSTOMER_PATTERN,
    MESSAGE_PATTERN,
    WORKSPACE_PATTERN,
    Channel,
    Message,
)
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.resourcenames import parse_name, require_workspace
from sqlalchemy.exc import IntegrityError

from . import commands
from .unit_of_work import UnitOfWorkFactory

_log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class SendContext:
    workspaces: Collection[str]
    # Channels with a provider in this deployment.
    channels: Collection[Channel]
    # Wakes the dispatcher once a message is committed.
    notify: Callable[[], None]
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = new_message_id


def _workspace(parent: str, workspaces: Collection[str]) -> str:
    workspace = parse_name(WORKSPACE_PATTERN, parent, field="parent")["workspace"]
    require_workspace(workspace, workspaces)
    return workspace


def _customer_id(customer: str, workspace: str) -> str:
    ids = parse_name(CUSTOMER_PATTERN, customer, field="customer")
    if ids["workspace"] != workspace:
        raise InvalidArgument("customer", f"must be in workspaces/{workspace}")
    return ids["customer"]


def _validate_content(cmd: commands.SendMessage, channel: Channel) -> None:
    content = cmd.content
    if channel is Channel.EMAIL:
        for field, value in (("subject", content.subject), ("text_body", content.text_body)):
            if not value.strip():
                raise InvalidArgument(f"content.{field}", "is required for email")
    for field, value, html in (
        ("subject", content.subject, False),
        ("text_body", content.text_body, False),
        ("html_body", content.html_body, True),
    ):
        if value and (problem := templates.template_syntax_error(value, html=html)):
            raise InvalidArgument(f"content.{field}", problem)


def _reuse(existing: Message, fingerprint: str) -> Message:
    if existing.same_payload(fingerprint):
        return existing
    raise FailedPrecondition(
        "IDEMPOTENCY_KEY_REUSED",
        "this idempotency key was already used with a different payload",
        {"message": existing.name},
    )


async def send_message(
    cmd: commands.SendMessage, uow_factory: UnitOfWorkFactory, ctx: SendContext
) -> Message:
    # Everything is checked before anything is written.
    workspace = _workspace(cmd.parent, ctx.workspaces)
    validation.validate_idempotency_key(cmd.idempotency_key)
    customer_id = _customer_id(cmd.customer, workspace)
    validation.validate_purpose(cmd.purpose)
    channel = validation.parse_channel(cmd.channel)
    validation.validate_source(cmd.source)
    _validate_content(cmd, channel)
    if channel not in ctx.channels:
        raise FailedPrecondition(
            "CHANNEL_NOT_CONFIGURED",
            f"no provider is configured for channel {channel.value}",
            {"channel": channel.value},
        )

    async with uow_factory() as uow:
        existing = await uow.messages.get_by_idempotency_key(workspace, cmd.idempotency_key)
        if existing is not None:
            return _reuse(existing, cmd.payload_fingerprint)
        message = Message.queue(
            id=ctx.new_id(),
            workspace=workspace,
            customer_id=customer_id,
            purpose=cmd.purpose,
            channel=channel,
            idempotency_key=cmd.idempotency_key,
            payload_fingerprint=cmd.payload_fingerprint,
            content=cmd.content,
            data=cmd.data,
            source=cmd.source,
            now=ctx.clock(),
        )
        try:
            async with uow.connection.begin_nested():
                await uow.messages.add(message)
        except IntegrityError:
            # A concurrent first submission of the same key committed first.
            winner = await uow.messages.get_by_idempotency_key(workspace, cmd.idempotency_key)
            if winner is None:
                raise
            _log.info("concurrent submission of one key", extra={"message_id": winner.id})
            return _reuse(winner, cmd.payload_fingerprint)
        await uow.commit()
    _log.info(
        "message queued",
        extra={"message_id": message.id, "customer": customer_id, "channel": channel.value},
    )
    ctx.notify()
    return message


async def get_message(
    query: commands.GetMessage, uow_factory: UnitOfWorkFactory, workspaces: Collection[str]
) -> Message:
    ids = parse_name(MESSAGE_PATTERN, query.name, field="name")
    require_workspace(ids["workspace"], workspaces)
    async with uow_factory(readonly=True) as uow:
        message = await uow.messages.get(ids["workspace"], ids["message"])
    if message is None:
        raise NotFound(query.name)
    return message


async def list_messages(
    query: commands.ListMessages, uow_factory: UnitOfWorkFactory, workspaces: Collection[str]
) -> tuple[list[Message], str]:
    workspace = _workspace(query.parent, workspaces)
    customer_id = _customer_id(query.customer, workspace) if query.customer else None
    size = pagination.page_size(query.page_size)
    bound_to = f"ListMessages|{query.parent}|{query.customer}"
    position = pagination.decode_page_token(query.page_token, bound_to=bound_to)
    before = None
    if position is not None:
        try:
            time = datetime.fromisoformat(position["t"])
            before = (time if time.tzinfo else time.replace(tzinfo=UTC), str(position["id"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("page_token", "is not a token returned by this method") from None
    async with uow_factory(readonly=True) as uow:
        page = await uow.messages.list(
            workspace, customer_id=customer_id, before=before, limit=size + 1
        )
    next_token = ""
    if len(page) > size:
        page = page[:size]
        last = page[-1]
        next_token = pagination.encode_page_token(
            {"t": last.create_time.isoformat(), "id": last.id}, bound_to=bound_to
        )
    return page, next_token
