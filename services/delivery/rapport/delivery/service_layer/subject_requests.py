"""Data subject requests: export everything delivery holds on one customer, and erase
their content, data and addresses (the messages stay as redacted tombstones so counts
and idempotency keep working; their idempotency keys, often built from personal data,
are replaced by a keyed digest that a resubmission of the key still finds)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime

from rapport.delivery.domain import erased_keys, names
from rapport.delivery.domain.inbox import InboxMessage
from rapport.delivery.domain.model import Channel, Message
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace

from . import commands, newest_first
from .dependencies import Dependencies
from .unit_of_work import UnitOfWorkFactory

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedMessage:
    message: Message
    # The message's in-app inbox entry (in-app messages that were sent).
    inbox_message: InboxMessage | None = None


@dataclass(frozen=True)
class ExportPage:
    messages: list[ExportedMessage]
    next_page_token: str


@dataclass(frozen=True)
class Erasure:
    erased: int
    cancelled: int


def _customer(parent: str, deps: Dependencies) -> tuple[str, str]:
    workspace, customer_id = names.parse_customer(parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    return workspace, customer_id


async def export_customer_messages(
    cmd: commands.ExportCustomerMessages, deps: Dependencies
) -> ExportPage:
    workspace, customer_id = _customer(cmd.parent, deps)
    size = page_size(cmd.page_size)
    bound_to = f"ExportCustomerMessages|{cmd.parent}"
    before = newest_first.continue_after(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    # One moment: messages, their histories and inbox entries read by separate
    # statements must agree (a status recorded meanwhile would split them).
    async with deps.uow_factory(snapshot=True) as uow:
        rows = await uow.messages.list(
            workspace, customer_id=customer_id, before=before, limit=size + 1
        )
        page, next_token = paginate(
            rows, size, newest_first.position, tokens=deps.page_tokens, bound_to=bound_to
        )
        history = await uow.status.history([m.id for m in page])
        exported = []
        for message in page:
            message.history = tuple(history.get(message.id, ()))
            inbox = (
                await uow.inbox.get(workspace, customer_id, message.id)
                if message.channel is Channel.IN_APP
                else None
            )
            exported.append(ExportedMessage(message, inbox))
    _log.info("customer messages exported", extra={"customer": customer_id, "count": len(page)})
    return ExportPage(exported, next_token)


async def erase_customer_messages(
    cmd: commands.EraseCustomerMessages, deps: Dependencies
) -> Erasure:
    workspace, customer_id = _customer(cmd.parent, deps)
    # Under the lock the outbox relay sends under (adapters/outbox_locks.py): a profile
    # event of the customer being sent now is waited for, one not sent yet never is.
    async with deps.outbox_locks.erasing(), deps.uow_factory() as uow:
        erased, cancelled = await uow.status.erase_customer(
            workspace, customer_id, now=deps.clock(), erased_keys=deps.erased_keys
        )
        # Provider events held for its messages go too (their messages, cancelled now,
        # are never sent).
        await uow.early_events.erase_customer(workspace, customer_id)
        await uow.commit()
    _log.info(
        "customer messages erased",
        extra={"customer": customer_id, "count": len(erased), "batch_size": len(cancelled)},
    )
    return Erasure(len(erased), len(cancelled))


async def kept_erased_keys(uow_factory: UnitOfWorkFactory, now: datetime) -> erased_keys.ErasedKeys:
    """The digest of erased keys under the secret kept in delivery's database, generated
    by the first replica ever to start (or by migration 0010): the same for every replica
    and restart, as a resubmission must find the digest an erasure stored."""
    async with uow_factory() as uow:
        secret = await uow.signing_keys.kept(erased_keys.SECRET_NAME, os.urandom(32), now)
        await uow.commit()
    return erased_keys.ErasedKeys(secret)
