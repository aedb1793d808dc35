"""The closed loop in SQL: status history, messages found by provider id or recipient
hash, the outbox (profile events, consent opt-outs), and erasure of a customer's data."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.delivery.domain import status
from rapport.delivery.domain.erased_keys import ErasedKeys
from rapport.delivery.domain.model import (
    PENDING_STATES,
    Channel,
    Message,
    MessageState,
    StatusChange,
)
from rapport.sqlstore import as_utc, in_chunks
from sqlalchemy import Integer, and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .idempotency_repository import IdempotencyKeys
from .message_rows import to_message
from .status_history import PROFILE_EVENT, add_outbox_rows, write_changes
from .tables import inbox_messages, message_status_history, messages, outbox

_log = logging.getLogger(__name__)

_PENDING = [state.value for state in PENDING_STATES]


# The relay's statements, built once (it claims and clears items many times a second).
_OUTBOX_NOW = bindparam("o_now", type_=outbox.c.next_attempt_time.type)
_OUTBOX_DUE = (
    select(outbox)
    .where(outbox.c.next_attempt_time <= _OUTBOX_NOW)
    .order_by(outbox.c.next_attempt_time, outbox.c.id)
    .limit(bindparam("o_limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
# The condition is checked again per row: of two replicas racing, one claims an item.
_OUTBOX_CLAIM = (
    update(outbox)
    .where(
        outbox.c.id.in_(bindparam("o_ids", expanding=True)),
        outbox.c.next_attempt_time <= _OUTBOX_NOW,
    )
    .values(
        next_attempt_time=bindparam("o_until", type_=outbox.c.next_attempt_time.type),
        attempt_count=outbox.c.attempt_count + 1,
    )
    .returning(outbox.c.id)
)
_OUTBOX_DONE = delete(outbox).where(outbox.c.id.in_(bindparam("o_ids", expanding=True)))
# Erasure: the customer's data out of one message, its key and payload fingerprint
# replaced by their erased forms. Also gone: the sender's free-text source, the
# provider's failure text (it may quote the address), the channel choice (the
# customer's preferred channels, consents and reachability) and the locale (from traits).
_REDACT_MESSAGE = (
    update(messages)
    .where(messages.c.id == bindparam("r_id"))
    .values(
        idempotency_key=bindparam("r_key"),
        payload_fingerprint=bindparam("r_fingerprint"),
        subject="",
        text_body="",
        html_body="",
        data="{}",
        source="",
        failure_detail="",
        channel_selection="",
        locale="",
        recipient="",
        recipient_key="",
        identifiers="[]",
        erase_time=bindparam("r_now", type_=messages.c.erase_time.type),
    )
)
# Erasure: the status reasons that may quote personal data, in the erased messages'
# histories: those providers (or RecordProviderEvent's callers) wrote, and the links of
# clicks. Delivery's own reasons are codes, kept.
_REDACT_HISTORY = (
    update(message_status_history)
    .where(
        message_status_history.c.message_id.in_(bindparam("h_ids", expanding=True)),
        or_(
            message_status_history.c.reporter != status.DELIVERY,
            message_status_history.c.status == status.ProviderEvent.CLICKED.value,
        ),
    )
    .values(reason="")
)


@dataclass(frozen=True)
class OutboxItem:
    id: str
    kind: str
    workspace: str
    customer_id: str
    payload: dict[str, Any]
    attempt_count: int


class StatusRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def history(self, message_ids: Sequence[str]) -> dict[str, list[StatusChange]]:
        """Each message's status changes, oldest first."""
        if not message_ids:
            return {}
        rows = (
            await self._conn.execute(
                select(message_status_history)
                .where(message_status_history.c.message_id.in_(list(message_ids)))
                .order_by(message_status_history.c.id)
            )
        ).mappings()
        found: dict[str, list[StatusChange]] = {m: [] for m in message_ids}
        for row in rows:
            found[row["message_id"]].append(
                StatusChange(
                    status=row["status"],
                    time=as_utc(row["change_time"]),  # type: ignore[arg-type]
                    reason=row["reason"],
                    reporter=row["reporter"],
                )
            )
        return found

    async def find_for_update(
        self,
        *,
        workspace: str | None,
        message_id: str = "",
        provider: str = "",
        provider_message_id: str = "",
    ) -> Message | None:
        """The message by id, or by (provider, provider message id); its row locked."""
        if message_id:
            condition = messages.c.id == message_id
        elif provider and provider_message_id:
            condition = and_(
                messages.c.provider == provider,
                messages.c.provider_message_id == provider_message_id,
            )
        else:
            return None
        if workspace is not None:
            condition = and_(condition, messages.c.workspace == workspace)
        row = (
            (await self._conn.execute(select(messages).where(condition).limit(1).with_for_update()))
            .mappings()
            .first()
        )
        return to_message(row) if row is not None else None

    async def save_event(self, message: Message, *, now: datetime) -> None:
        """Store what a provider event changed on the message, and its status change."""
        await self._conn.execute(
            update(messages)
            .where(messages.c.id == message.id)
            .values(
                state=message.state.value if message.state is not None else messages.c.state,
                failure_reason=message.failure_reason,
                failure_detail=message.failure_detail,
                update_time=message.update_time,
                delivery_time=message.delivery_time,
                open_time=message.open_time,
                click_time=message.click_time,
                open_count=message.open_count,
                click_count=message.click_count,
            )
        )
        await write_changes(self._conn, message, now=now)

    async def sms_subjects(
        self, recipient_key: str, provider: str, *, limit: int = 100
    ) -> list[tuple[str, str, str]]:
        """(workspace, customer, purpose) of the SMS messages a provider sent to the
        number whose keyed hash is `recipient_key`, or may have sent (an ambiguous
        attempt: its SENT not recorded, the reply may come first)."""
        rows = await self._conn.execute(
            select(messages.c.workspace, messages.c.customer_id, messages.c.purpose)
            .where(
                messages.c.recipient_key == recipient_key,
                messages.c.channel == Channel.SMS.value,
                or_(messages.c.provider == provider, messages.c.ambiguous_provider == provider),
            )
            .distinct()
            .limit(limit)
        )
        return [(w, c, p) for w, c, p in rows]

    # --- the outbox ------------------------------------------------------------------

    async def add_outbox(
        self,
        *,
        item_id: str,
        kind: str,
        workspace: str,
        customer_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        await add_outbox_rows(
            self._conn,
            [
                {
                    "id": item_id,
                    "kind": kind,
                    "workspace": workspace,
                    "customer_id": customer_id,
                    "payload": json.dumps(payload, separators=(",", ":"), sort_keys=True),
                    "create_time": now,
                    "next_attempt_time": now,
                    "attempt_count": 0,
                }
            ],
        )

    async def claim_outbox(
        self, *, now: datetime, limit: int, lease_until: datetime
    ) -> list[OutboxItem]:
        """Up to `limit` due items, leased until `lease_until` (another replica skips
        them until then); an unreadable payload is dropped with a warning."""
        rows = (
            (await self._conn.execute(_OUTBOX_DUE, {"o_now": now, "o_limit": limit}))
            .mappings()
            .all()
        )
        items: list[OutboxItem] = []
        unreadable: list[str] = []
        if not rows:
            return items
        # One statement for the whole claim; the condition is checked again per row.
        claimed = set(
            (
                await self._conn.execute(
                    _OUTBOX_CLAIM,
                    {"o_ids": [row["id"] for row in rows], "o_now": now, "o_until": lease_until},
                )
            ).scalars()
        )
        for row in rows:
            if row["id"] not in claimed:
                continue
            try:
                payload = json.loads(row["payload"])
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
            except (TypeError, ValueError, RecursionError):
                _log.warning("unreadable outbox item dropped", extra={"error_reason": row["kind"]})
                unreadable.append(row["id"])
                continue
            items.append(
                OutboxItem(
                    id=row["id"],
                    kind=row["kind"],
                    workspace=row["workspace"],
                    customer_id=row["customer_id"],
                    payload=payload,
                    attempt_count=row["attempt_count"] + 1,
                )
            )
        if unreadable:
            await self.outbox_done(unreadable)
        return items

    async def present_in_outbox(self, item_ids: Sequence[str], *, lock: bool) -> set[str]:
        """Those of `item_ids` still in the outbox; with `lock`, locked until the
        transaction ends (in id order, as an erasure locks the items it deletes): the
        relay sends them under this lock, so an erasure either deleted them first or
        waits for the send (adapters/outbox_locks.py)."""
        if not item_ids:
            return set()
        query = select(outbox.c.id).where(outbox.c.id.in_(list(item_ids))).order_by(outbox.c.id)
        return set((await self._conn.execute(query.with_for_update() if lock else query)).scalars())

    async def outbox_done(self, item_ids: Sequence[str]) -> None:
        if item_ids:
            await self._conn.execute(_OUTBOX_DONE, {"o_ids": list(item_ids)})

    async def outbox_retry(self, item_id: str, next_attempt_time: datetime) -> None:
        await self._conn.execute(
            update(outbox).where(outbox.c.id == item_id).values(next_attempt_time=next_attempt_time)
        )

    async def outbox_size(self) -> int:
        return len((await self._conn.execute(select(outbox.c.id))).all())

    # --- data subject requests -------------------------------------------------------

    async def erase_customer(
        self, workspace: str, customer_id: str, *, now: datetime, erased_keys: ErasedKeys
    ) -> tuple[list[str], list[str]]:
        """Redact the customer's messages (those not erased yet) and the reasons in their
        histories that may quote personal data, their idempotency keys and payload
        fingerprints replaced by their erased forms (the keys in the messages and in the
        keys in force), cancel the pending ones, delete their inbox entries and pending
        profile events; returns (erased ids, cancelled ids)."""
        mine = and_(messages.c.workspace == workspace, messages.c.customer_id == customer_id)
        rows = (
            await self._conn.execute(
                select(
                    messages.c.id,
                    messages.c.state,
                    messages.c.idempotency_key,
                    messages.c.payload_fingerprint,
                )
                .where(mine, messages.c.erase_time.is_(None))
                .with_for_update()
            )
        ).all()
        erased = [row.id for row in rows]
        cancelled = [row.id for row in rows if row.state in _PENDING]
        keys = [
            (row.id, row.idempotency_key, erased_keys.digest(workspace, row.idempotency_key))
            for row in rows
        ]
        if cancelled:
            await self._conn.execute(
                update(messages)
                .where(messages.c.id.in_(cancelled))
                .values(
                    state=MessageState.CANCELLED.value,
                    failure_reason="CUSTOMER_ERASED",
                    update_time=now,
                    lease_token=None,
                    lease_expire_time=None,
                )
            )
            await self._conn.execute(
                message_status_history.insert(),
                [
                    {
                        "message_id": message_id,
                        "status": MessageState.CANCELLED.value,
                        "reason": "CUSTOMER_ERASED",
                        "reporter": status.DELIVERY,
                        "change_time": now,
                    }
                    for message_id in cancelled
                ],
            )
        if erased:
            await self._conn.execute(
                _REDACT_MESSAGE,
                [
                    {
                        "r_id": row.id,
                        "r_key": erased_key,
                        "r_fingerprint": erased_keys.fingerprint(
                            workspace, row.payload_fingerprint
                        ),
                        "r_now": now,
                    }
                    for row, (_, _, erased_key) in zip(rows, keys, strict=True)
                ],
            )
            for chunk in in_chunks(erased):
                await self._conn.execute(_REDACT_HISTORY, {"h_ids": list(chunk)})
            await IdempotencyKeys(self._conn).erase(workspace, keys)
        await self._conn.execute(
            delete(inbox_messages).where(
                inbox_messages.c.workspace == workspace, inbox_messages.c.customer_id == customer_id
            )
        )
        # Locked first, in id order as the relay locks what it sends (no deadlock): an
        # event being sent now is waited for, one not sent yet is never sent.
        events = (
            (
                await self._conn.execute(
                    select(outbox.c.id)
                    .where(
                        outbox.c.workspace == workspace,
                        outbox.c.customer_id == customer_id,
                        outbox.c.kind == PROFILE_EVENT,
                    )
                    .order_by(outbox.c.id)
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        await self.outbox_done(events)
        return erased, cancelled
