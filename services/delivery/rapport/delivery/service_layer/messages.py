"""Use cases behind the RPCs: accept a message once per idempotency key, read messages.

An idempotency key answers with the message it made for the deployment's idempotency
window (SendingPolicy.idempotency_window) from when it made it; after that the same
key makes a new message (and answers with that one). Expired keys are pruned in the
background (maintenance.py), but expiry never waits for the pruning.

Accepting is a group commit (rapport.groupcommit): SendMessage calls arriving
while a batch is being written go together in the next transaction (keys read, then
keys, messages, QUEUED history inserted with one statement each), each caller answered
once it committed. A batch that cannot be written is accepted one message at a time,
so a message that cannot be stored fails alone.

BatchSendMessages is all or nothing instead (AIP-233): its requests are written in one
transaction of their own, and one request refused refuses them all.

A key whose message's customer was erased is stored in its erased form (a digest,
domain.erased_keys): each key is looked up as given and in that form, in the same
statement, so a resubmission still finds its (redacted) message and answers with it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapport.delivery.adapters.idempotency_repository import KeyRecord
from rapport.delivery.domain import names, validation
from rapport.delivery.domain.channel_choice import DEFAULT_CANDIDATES
from rapport.delivery.domain.erased_keys import ErasedKeys
from rapport.delivery.domain.message_filter import parse_state_filter
from rapport.delivery.domain.model import Channel, Message, MessageState
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound, RapportError
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace
from rapport.sqlstore import TransientConflict, run_with_retries

from . import commands, newest_first
from .dependencies import Dependencies
from .preparation import refuse_too_long_inline_sms
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


def _template_id(cmd: commands.SendMessage, workspace: str) -> str:
    if not cmd.template:
        return ""
    template_workspace, template_id = names.parse_template(cmd.template, field="template")
    if template_workspace != workspace:
        raise InvalidArgument("template", f"must be in {names.workspace_name(workspace)}")
    if validation.content_given(cmd.content):
        raise InvalidArgument("content", "give either content or a template, not both")
    return template_id


def _channels(
    cmd: commands.SendMessage, workspace: str, deps: Dependencies
) -> tuple[Channel | None, tuple[Channel, ...]]:
    """(the channel, the best-channel candidates): one of them is set."""
    if not cmd.best_channel:
        if cmd.candidate_channels:
            raise InvalidArgument("candidate_channels", "is only for best_channel")
        return validation.require_send_channel(cmd.channel), ()
    if cmd.channel is not None:
        raise InvalidArgument("channel", "must be unspecified with best_channel")
    candidates: list[Channel] = []
    for index, item in enumerate(cmd.candidate_channels):
        channel = validation.require_send_channel(item, field=f"candidate_channels[{index}]")
        if channel in candidates:
            raise InvalidArgument(f"candidate_channels[{index}]", "is listed twice")
        candidates.append(channel)
    if not candidates:
        candidates = [c for c in DEFAULT_CANDIDATES if deps.can_send(c, workspace)]
        if not candidates:
            raise FailedPrecondition(
                "CHANNEL_NOT_CONFIGURED", "no channel is configured in this workspace"
            )
    return None, tuple(candidates)


def _require_configured(channel: Channel, workspace: str, deps: Dependencies) -> None:
    if not deps.can_send(channel, workspace):
        raise FailedPrecondition(
            "CHANNEL_NOT_CONFIGURED",
            f"no provider is configured for channel {channel.value} in this workspace",
            {"channel": channel.value},
        )


def _check_inline_content(cmd: commands.SendMessage, channels: tuple[Channel, ...]) -> None:
    if len(channels) == 1:
        validation.validate_content(cmd.content, channels[0])
        return
    validation.validate_content(cmd.content, None)
    if not any(validation.can_carry(cmd.content, c) for c in channels):
        raise InvalidArgument("content", "has nothing any candidate channel sends")


def _new_message(cmd: commands.SendMessage, deps: Dependencies) -> Message:
    """The message `cmd` asks for, fully validated; nothing is written yet."""
    return _new_message_in(_workspace(cmd.parent, deps), cmd, deps)


def _new_message_in(workspace: str, cmd: commands.SendMessage, deps: Dependencies) -> Message:
    """`_new_message` in `workspace`, already parsed and allowed (cmd.parent is not read)."""
    validation.validate_idempotency_key(cmd.idempotency_key)
    customer_id = _customer_id(cmd.customer, workspace)
    validation.validate_purpose(cmd.purpose)
    template_id = _template_id(cmd, workspace)
    channel, candidates = _channels(cmd, workspace, deps)
    validation.validate_source(cmd.source)
    sendable = (channel,) if channel is not None else candidates
    if not template_id:
        _check_inline_content(cmd, sendable)
        if channel is Channel.SMS:
            refuse_too_long_inline_sms(cmd.content, workspace, cmd.purpose, deps)
    validation.validate_data(cmd.data)
    for each in sendable:
        validation.validate_data_for_channel(cmd.data, each)
    for each in sendable:
        _require_configured(each, workspace, deps)
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
        template_id=template_id,
        candidate_channels=candidates,
        priority=cmd.priority,
    )


def _replay(existing: Message, submitted: Message, erased: ErasedKeys) -> Message:
    if existing.same_payload(submitted) or _same_erased_payload(existing, submitted, erased):
        return existing
    raise FailedPrecondition(
        "IDEMPOTENCY_KEY_REUSED",
        "this idempotency key was already used with a different payload",
        {"message": existing.name},
    )


def _same_erased_payload(existing: Message, submitted: Message, erased: ErasedKeys) -> bool:
    """Whether `submitted` says what `existing`, erased, said: an erasure keeps its
    fingerprint only in erased form (domain.erased_keys)."""
    return existing.erase_time is not None and existing.payload_fingerprint == erased.fingerprint(
        existing.workspace, submitted.payload_fingerprint
    )


async def _accept_one(message: Message, deps: Dependencies) -> tuple[Message, bool]:
    """Accept one message in its own unit of work: (the message the key answers with,
    whether it is `message`, queued now)."""
    window = deps.policy.idempotency_window
    changes = list(message.changes)
    erased_key = deps.erased_keys.digest(message.workspace, message.idempotency_key)

    async def accept(uow: DeliveryUnitOfWork) -> tuple[Message, bool]:
        message.changes = list(changes)
        key = await uow.idempotency_keys.get(message.workspace, message.idempotency_key, erased_key)
        if key is not None and key.create_time + window > message.create_time:
            existing = await uow.messages.get(message.workspace, key.message_id)
            if existing is not None:
                return _replay(existing, message, deps.erased_keys), False
        if message.template_id and not await uow.templates.exists(
            message.workspace, message.template_id
        ):
            raise NotFound(message.template)
        if key is None:
            # A concurrent first submission of the same key may commit first: the insert
            # then fails with a unique violation and the unit is redone, finding it.
            await uow.idempotency_keys.add(
                message.workspace, message.idempotency_key, message.id, message.create_time
            )
        elif not await uow.idempotency_keys.replace(
            message.workspace,
            message.idempotency_key,
            expired=key,
            message_id=message.id,
            now=message.create_time,
        ):
            raise TransientConflict("IDEMPOTENCY_KEY_RENEWED")
        await uow.messages.add(message)
        return message, True

    return await run_with_retries(
        deps.uow_factory,
        accept,
        description="concurrent submissions of this idempotency key kept conflicting; retry",
    )


Accepted = tuple[Message, bool]


def _erased_forms(batch: Sequence[Message], deps: Dependencies) -> dict[tuple[str, str], str]:
    """Each (workspace, key) of `batch` -> the key's erased form: what it became if its
    customer was erased (the erased message still answers a resubmission of the key)."""
    digest = deps.erased_keys.digest
    return {(m.workspace, m.idempotency_key): digest(m.workspace, m.idempotency_key) for m in batch}


async def _accept_batch(
    uow: DeliveryUnitOfWork,
    batch: Sequence[Message],
    window: timedelta,
    erased_forms: dict[tuple[str, str], str],
    erased_keys: ErasedKeys,
) -> list[Accepted | BaseException]:
    """The accept of each message of `batch` in one unit of work (not committed here).

    Keys are resolved in the order of the batch: a key used earlier in the batch (or
    stored and in force) answers with that message (or IDEMPOTENCY_KEY_REUSED when the
    payload differs); the others are inserted, their keys and messages in one statement
    each. Per message: its answer, or the error that is its alone (a template not found).
    Raises when the batch as a whole cannot be written (e.g. a key inserted meanwhile
    by another replica): the caller then accepts each message alone.
    """
    stored: dict[tuple[str, str], KeyRecord] = {}
    existing: dict[str, Message] = {}
    by_workspace: dict[str, dict[str, str]] = defaultdict(dict)
    for message in batch:
        key = (message.workspace, message.idempotency_key)
        by_workspace[message.workspace][message.idempotency_key] = erased_forms[key]
    for workspace, keys in by_workspace.items():
        records = await uow.idempotency_keys.get_many(workspace, keys)
        stored.update({(workspace, key): record for key, record in records.items()})
        existing.update(
            await uow.messages.get_many(workspace, [r.message_id for r in records.values()])
        )
    results: list[Accepted | BaseException] = []
    answers: dict[tuple[str, str], Message] = {}
    fresh: list[Message] = []
    new_keys: list[tuple[str, str, str, datetime]] = []
    for message in batch:
        key = (message.workspace, message.idempotency_key)
        record = stored.get(key)
        earlier = answers.get(key)
        if (
            earlier is None
            and record is not None
            and record.create_time + window > (message.create_time)
        ):
            earlier = existing.get(record.message_id)
        if earlier is not None:
            answers[key] = earlier
            try:
                results.append((_replay(earlier, message, erased_keys), False))
            except FailedPrecondition as err:
                results.append(err)
            continue
        if message.template_id and not await uow.templates.exists(
            message.workspace, message.template_id
        ):
            results.append(NotFound(message.template))
            continue
        if record is None:
            new_keys.append((*key, message.id, message.create_time))
        elif not await uow.idempotency_keys.replace(
            message.workspace,
            message.idempotency_key,
            expired=record,
            message_id=message.id,
            now=message.create_time,
        ):
            raise TransientConflict("IDEMPOTENCY_KEY_RENEWED")
        answers[key] = message
        fresh.append(message)
        results.append((message, True))
    await uow.idempotency_keys.add_many(new_keys)
    await uow.messages.add_many(fresh)
    return results


def _batch_writer(deps: Dependencies) -> Callable[[Sequence[Message]], Awaitable[list[Any]]]:
    async def write(batch: Sequence[Message]) -> list[Accepted | BaseException]:
        window = deps.policy.idempotency_window
        pending = [list(message.changes) for message in batch]
        erased_forms = _erased_forms(batch, deps)
        try:
            async with deps.uow_factory() as uow:
                results = await _accept_batch(uow, batch, window, erased_forms, deps.erased_keys)
                await uow.commit()
            return results
        except Exception as err:
            for message, changes in zip(batch, pending, strict=True):
                message.changes = changes
            if len(batch) == 1:
                return [await _settle(_accept_one(batch[0], deps))]
            # One message may be what failed: each alone, so that it fails alone.
            _log.info(
                "accept batch failed; accepting one by one",
                extra={"count": len(batch), "error_reason": type(err).__name__},
            )
            return [await _settle(_accept_one(message, deps)) for message in batch]

    return write


async def _settle(accepting: Awaitable[Accepted]) -> Accepted | BaseException:
    try:
        return await accepting
    except Exception as err:
        return err


async def send_message(cmd: commands.SendMessage, deps: Dependencies) -> Message:
    # Everything is checked before anything is written.
    message = _new_message(cmd, deps)
    # Concurrent submissions are written together (group commit), each answered once
    # the transaction holding it committed.
    accepted, queued = await deps.accepts.submit(message, _batch_writer(deps))
    if not queued:
        return accepted
    _log.info(
        "message queued",
        extra={
            "message_id": message.id,
            "customer": message.customer_id,
            "channel": str(message.channel or "BEST"),
        },
    )
    deps.dispatch_wakeup.set()
    return message


async def batch_send_messages(cmd: commands.BatchSendMessages, deps: Dependencies) -> list[Message]:
    """Every request accepted, or none (AIP-233: the batch is atomic).

    All requests are checked before anything is written; then the keys are resolved and
    the new messages stored in one transaction (as a group commit batch is), each key
    answering as it would in SendMessage: a key in force, or used earlier in this batch,
    answers with its message when the payload is the same. A request that SendMessage
    would refuse (a reused key, a template not found) refuses the whole batch, naming
    it, and nothing is stored.
    """
    workspace = _workspace(cmd.parent, deps)
    validation.validate_batch_size(len(cmd.requests))
    batch: list[Message] = []
    for index, item in enumerate(cmd.requests):
        try:
            if item.parent and item.parent != cmd.parent:
                raise InvalidArgument("parent", f"must be empty or {cmd.parent}, as the batch's")
            batch.append(_new_message_in(workspace, item, deps))
        except RapportError as err:
            raise validation.in_batch(err, index) from None
    window = deps.policy.idempotency_window
    pending = [list(message.changes) for message in batch]
    erased_forms = _erased_forms(batch, deps)

    async def accept(uow: DeliveryUnitOfWork) -> list[Accepted]:
        # A redone unit writes each message's QUEUED change again.
        for message, changes in zip(batch, pending, strict=True):
            message.changes = list(changes)
        accepted: list[Accepted] = []
        for index, result in enumerate(
            await _accept_batch(uow, batch, window, erased_forms, deps.erased_keys)
        ):
            if isinstance(result, RapportError):
                # Not committed: the unit of work rolls the whole batch back.
                raise validation.in_batch(result, index)
            if isinstance(result, BaseException):
                raise result
            accepted.append(result)
        return accepted

    accepted = await run_with_retries(
        deps.uow_factory,
        accept,
        description="concurrent submissions of these idempotency keys kept conflicting; retry",
    )
    queued = [message for message, is_new in accepted if is_new]
    if queued:
        _log.info("messages queued", extra={"count": len(queued), "workspace": workspace})
        deps.dispatch_wakeup.set()
    return [message for message, _ in accepted]


async def get_message(cmd: commands.GetMessage, deps: Dependencies) -> Message:
    workspace, message_id = names.parse_message(cmd.name, field="name")
    require_workspace(workspace, deps.workspaces)
    async with deps.uow_factory(readonly=True) as uow:
        message = await uow.messages.get(workspace, message_id)
        if message is not None and cmd.full:
            history = await uow.status.history([message.id])
            message.history = tuple(history[message.id])
    if message is None:
        raise NotFound(cmd.name)
    return message


async def list_messages(cmd: commands.ListMessages, deps: Dependencies) -> MessagePage:
    workspace = _workspace(cmd.parent, deps)
    customer_id = _customer_id(cmd.customer, workspace) if cmd.customer else None
    states = parse_state_filter(cmd.filter)
    size = page_size(cmd.page_size)
    bound_to = f"ListMessages|{cmd.parent}|{cmd.customer}|{','.join(states)}"
    before = newest_first.continue_after(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    async with deps.uow_factory(readonly=True) as uow:
        rows = await uow.messages.list(
            workspace, customer_id=customer_id, before=before, limit=size + 1, states=states
        )
    page, next_token = paginate(
        rows, size, newest_first.position, tokens=deps.page_tokens, bound_to=bound_to
    )
    return MessagePage(messages=page, next_page_token=next_token)


async def retry_message(cmd: commands.RetryMessage, deps: Dependencies) -> Message:
    """Replay a dead letter: queued again with fresh attempts (consent is asked again
    right before it is sent, so a replay after an opt-out is suppressed). An erased one
    is not replayed: it would go out redacted, to a customer who asked to be erased."""
    workspace, message_id = names.parse_message(cmd.name, field="name")
    require_workspace(workspace, deps.workspaces)

    async def replay(uow: DeliveryUnitOfWork) -> Message:
        message = await uow.messages.get(workspace, message_id)
        if message is None:
            raise NotFound(cmd.name)
        if message.state is not MessageState.DEAD_LETTERED:
            raise FailedPrecondition(
                "MESSAGE_NOT_DEAD_LETTERED",
                "only a dead-lettered message can be retried",
                {"state": str(message.state or "UNKNOWN")},
            )
        if message.erase_time is not None:
            raise FailedPrecondition(
                "MESSAGE_ERASED", "the customer's messages were erased: it cannot be retried"
            )
        message.replay(deps.clock())
        if not await uow.messages.replay(message):
            raise TransientConflict("MESSAGE_CHANGED")
        return message

    message = await run_with_retries(
        deps.uow_factory, replay, description="the message kept changing; retry"
    )
    _log.info("dead letter replayed", extra={"message_id": message.id})
    deps.dispatch_wakeup.set()
    return message
