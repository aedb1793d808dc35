"""Messages in SQL (SQLAlchemy Core); the same statements on SQLite and PostgreSQL.

The one repository the unit of work gives for messages (uow.messages): adding, reading,
listing, cancelling and replaying here; rows <-> Messages in message_rows, the
dispatcher's claims in message_claims, attempt outcomes in attempt_outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rapport.delivery.domain.model import (
    PENDING_STATES,
    Channel,
    Message,
    MessageState,
    StatusChange,
)
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from . import attempt_outcomes, message_claims
from .driver_rows import execute_rows
from .message_rows import new_row, outcome_values, to_message
from .status_history import write_changes, write_changes_many
from .tables import messages

_PENDING = [state.value for state in PENDING_STATES]

_INSERT_MESSAGE = messages.insert()


def _pending_of(workspace: str, customer_id: str, purpose: str, channel: Channel) -> Any:
    return and_(
        messages.c.workspace == workspace,
        messages.c.customer_id == customer_id,
        messages.c.purpose == purpose,
        messages.c.channel == channel.value,
        messages.c.state.in_(_PENDING),
    )


class MessageRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        # Set by record_attempts.
        self.early_events_held = False

    async def add(self, message: Message) -> None:
        """Insert a new message (its idempotency key is recorded apart: IdempotencyKeys)."""
        await self.add_many([message])

    async def add_many(self, batch: Sequence[Message]) -> None:
        """Insert new messages, their QUEUED history and its profile events: one statement
        each, whatever the number of messages (idempotency keys: IdempotencyKeys)."""
        if not batch:
            return
        await execute_rows(self._conn, _INSERT_MESSAGE, [new_row(m) for m in batch])
        queued = [list(m.changes) for m in batch]
        for message in batch:
            message.changes.insert(0, StatusChange(MessageState.QUEUED.value, message.create_time))
        try:
            await write_changes_many(self._conn, batch)
        except BaseException:
            for message, changes in zip(batch, queued, strict=True):
                message.changes = changes
            raise

    async def get_many(self, workspace: str, message_ids: Sequence[str]) -> dict[str, Message]:
        """The messages of `workspace` among `message_ids`, by id (missing ones left out)."""
        if not message_ids:
            return {}
        rows = (
            (
                await self._conn.execute(
                    select(messages).where(
                        messages.c.workspace == workspace, messages.c.id.in_(list(message_ids))
                    )
                )
            )
            .mappings()
            .all()
        )
        return {row["id"]: to_message(row) for row in rows}

    async def get(self, workspace: str, message_id: str) -> Message | None:
        row = (
            (
                await self._conn.execute(
                    select(messages).where(
                        messages.c.workspace == workspace, messages.c.id == message_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return to_message(row) if row is not None else None

    async def list(
        self,
        workspace: str,
        *,
        customer_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
        states: Sequence[MessageState] = (),
    ) -> list[Message]:
        """Newest first; `before` is the (create_time, id) keyset position to continue after;
        `states` (when given) keeps only messages in one of them."""
        query = select(messages).where(messages.c.workspace == workspace)
        if customer_id is not None:
            query = query.where(messages.c.customer_id == customer_id)
        if states:
            query = query.where(messages.c.state.in_([state.value for state in states]))
        if before is not None:
            time, message_id = before
            query = query.where(
                or_(
                    messages.c.create_time < time,
                    and_(messages.c.create_time == time, messages.c.id < message_id),
                )
            )
        query = query.order_by(messages.c.create_time.desc(), messages.c.id.desc()).limit(limit)
        rows = (await self._conn.execute(query)).mappings().all()
        return [to_message(row) for row in rows]

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease_token: str,
        lease_expire_time: datetime,
        lanes: Mapping[str, int] | None = None,
    ) -> list[Message]:
        """Lease up to `limit` due messages (per lane when `lanes` is given), count the
        attempt and mark them SENDING; see message_claims.claim_due."""
        return await message_claims.claim_due(
            self._conn,
            now=now,
            limit=limit,
            lease_token=lease_token,
            lease_expire_time=lease_expire_time,
            lanes=lanes,
        )

    async def held_leases(self, message_ids: Sequence[str]) -> dict[str, str | None]:
        """The lease token each message holds now (None: none; absent: no such message)."""
        rows = await self._conn.execute(
            select(messages.c.id, messages.c.lease_token).where(
                messages.c.id.in_(sorted(set(message_ids)))
            )
        )
        return {row.id: row.lease_token for row in rows}

    async def replay(self, message: Message) -> bool:
        """Store a replayed dead letter (Message.replay); False if it is no longer one, or
        was erased meanwhile."""
        result = await self._conn.execute(
            update(messages)
            .where(
                messages.c.id == message.id,
                messages.c.state == MessageState.DEAD_LETTERED.value,
                messages.c.erase_time.is_(None),
            )
            .values(lease_token=None, lease_expire_time=None, **outcome_values(message))
        )
        if result.rowcount != 1:
            return False
        await write_changes(self._conn, message, now=message.update_time)
        return True

    async def pending_ids(
        self, workspace: str, customer_id: str, purpose: str, channel: Channel
    ) -> list[str]:
        """The ids of the customer's pending messages of `purpose` on `channel`."""
        rows = await self._conn.execute(
            select(messages.c.id).where(_pending_of(workspace, customer_id, purpose, channel))
        )
        return list(rows.scalars())

    async def cancel_pending(
        self,
        workspace: str,
        customer_id: str,
        purpose: str,
        channel: Channel,
        *,
        now: datetime,
        reason: str,
        identifiers: tuple[tuple[str, str], ...] = (),
        among: Sequence[str] | None = None,
    ) -> list[str]:
        """Cancel the customer's queued and held messages of `purpose` on `channel` that no
        dispatcher holds a live lease on (those check consent right before sending),
        only those of `among` when given; returns the ids cancelled. Their history rows
        and profile events (`Email Cancelled`...) are written in the caller's
        transaction, one statement each; a message never attempted (no stored
        identifiers) is attributed with `identifiers`."""
        pending = and_(
            _pending_of(workspace, customer_id, purpose, channel),
            or_(messages.c.lease_expire_time.is_(None), messages.c.lease_expire_time <= now),
        )
        if among is not None:
            if not among:
                return []
            pending = and_(pending, messages.c.id.in_(list(among)))
        result = await self._conn.execute(
            update(messages)
            .where(pending)
            .values(
                state=MessageState.CANCELLED.value,
                failure_reason=reason,
                update_time=now,
                lease_token=None,
                lease_expire_time=None,
            )
            .returning(*messages.c)
        )
        cancelled = [to_message(row) for row in result.mappings().all()]
        for message in cancelled:
            message.identifiers = message.identifiers or identifiers
            message.changes.append(StatusChange(MessageState.CANCELLED.value, now, reason))
        await write_changes_many(self._conn, cancelled, now=now)
        return [message.id for message in cancelled]

    async def record_attempts(self, batch: Sequence[tuple[Message, str]]) -> list[bool]:
        """record_attempt for many (message, lease token) pairs in a few statements; per
        pair: False if the lease was lost (see attempt_outcomes.record_attempts). Sets
        early_events_held: whether provider events may be held for the messages
        (uow.early_events.take is needed)."""
        kept, self.early_events_held = await attempt_outcomes.record_attempts(self._conn, batch)
        return kept

    async def record_attempt(self, message: Message, lease_token: str) -> bool:
        """Store the attempt's outcome and release the lease; False if the lease was lost."""
        return await attempt_outcomes.record_attempt(self._conn, message, lease_token)
