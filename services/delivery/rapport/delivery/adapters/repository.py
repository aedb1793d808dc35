"""Messages in SQL (SQLAlchemy Core); the same statements on SQLite and PostgreSQL.

Rows are read back leniently: a channel or state this version does not know (written
by a newer one) becomes None, and template data that is not a JSON object becomes
None, each with a warning naming the message; see domain.model.Message. One such row
never makes a read or a claim fail.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from rapport.delivery.domain.model import (
    PENDING_STATES,
    Channel,
    Message,
    MessageContent,
    MessageState,
    Priority,
)
from rapport.sqlstore import as_utc
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from .selection_codec import selection_from_text, selection_to_text
from .tables import messages

_log = logging.getLogger(__name__)

E = TypeVar("E", bound=StrEnum)

# Only these are claimed: a message on a channel a newer version added waits for a
# replica of that version instead of being failed by this one. Empty: a best-channel
# message whose channel is not chosen yet.
_KNOWN_CHANNELS = [channel.value for channel in Channel]
_CLAIMABLE_CHANNELS = [*_KNOWN_CHANNELS, ""]
_PENDING = [state.value for state in PENDING_STATES]


def _unreadable(message_id: str, why: str) -> None:
    # The id and what could not be read, never the stored value (it may be personal).
    _log.warning(
        "stored message holds a value this version cannot read",
        extra={"message_id": message_id, "error_reason": why},
    )


def _enum(kind: type[E], value: str, message_id: str, why: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        _unreadable(message_id, why)
        return None


def stored_data(text: str, message_id: str) -> dict[str, Any] | None:
    """Template data stored as a JSON object; None (with a warning) when it is not one."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        _unreadable(message_id, "UNREADABLE_DATA")
        return None
    return data


def _candidates(text: str, message_id: str) -> tuple[Channel, ...] | None:
    channels = tuple(
        _enum(Channel, name, message_id, "UNKNOWN_CHANNEL") for name in text.split(",")
    )
    if any(channel is None for channel in channels):
        return None
    return channels  # type: ignore[return-value]


def _to_message(row: RowMapping) -> Message:
    message_id = row["id"]
    candidates = (
        _candidates(row["candidate_channels"], message_id) if row["candidate_channels"] else ()
    )
    channel = (
        None
        if row["channel"] == "" and candidates
        else _enum(Channel, row["channel"], message_id, "UNKNOWN_CHANNEL")
    )
    selection = selection_from_text(row["channel_selection"], candidates, message_id)
    return Message(
        id=message_id,
        workspace=row["workspace"],
        customer_id=row["customer_id"],
        purpose=row["purpose"],
        channel=channel,
        idempotency_key=row["idempotency_key"],
        payload_fingerprint=row["payload_fingerprint"],
        content=MessageContent(
            subject=row["subject"], text_body=row["text_body"], html_body=row["html_body"]
        ),
        data=stored_data(row["data"], message_id),
        source=row["source"],
        state=_enum(MessageState, row["state"], message_id, "UNKNOWN_STATE"),
        attempt_count=row["attempt_count"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        failure_reason=row["failure_reason"],
        create_time=as_utc(row["create_time"]),  # type: ignore[arg-type]
        update_time=as_utc(row["update_time"]),  # type: ignore[arg-type]
        send_time=as_utc(row["send_time"]),
        next_attempt_time=as_utc(row["next_attempt_time"]),  # type: ignore[arg-type]
        ambiguous_provider=row["ambiguous_provider"],
        template_id=row["template_id"],
        locale=row["locale"],
        failure_detail=row["failure_detail"],
        priority=_enum(Priority, row["priority"], message_id, "UNKNOWN_PRIORITY"),
        selection=selection,
        scheduled_time=as_utc(row["scheduled_time"]),
        schedule_reason=row["schedule_reason"],
    )


def _outcome_values(message: Message) -> dict[str, Any]:
    if message.state is None:
        raise ValueError(f"message {message.id} has no state this version can store")
    return {
        "state": message.state.value,
        "attempt_count": message.attempt_count,
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "failure_reason": message.failure_reason,
        "update_time": message.update_time,
        "send_time": message.send_time,
        "next_attempt_time": message.next_attempt_time,
        "ambiguous_provider": message.ambiguous_provider,
        "locale": message.locale,
        "failure_detail": message.failure_detail,
        "scheduled_time": message.scheduled_time,
        "schedule_reason": message.schedule_reason,
        # Set once a best channel is chosen; never unset.
        **({"channel": message.channel.value} if message.channel is not None else {}),
        **(
            {"channel_selection": selection_to_text(message.selection)}
            if message.selection is not None and message.selection.select_time is not None
            else {}
        ),
    }


class MessageRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, message: Message) -> None:
        """Insert a new message (its idempotency key is recorded apart: IdempotencyKeys)."""
        best_channel = message.selection is not None
        if (message.channel is None) != best_channel or message.data is None:
            raise ValueError(f"message {message.id} is not a complete new message")
        candidates = message.selection.candidate_channels if message.selection else ()
        values: dict[str, Any] = {
            "id": message.id,
            "workspace": message.workspace,
            "customer_id": message.customer_id,
            "purpose": message.purpose,
            "channel": message.channel.value if message.channel is not None else "",
            "candidate_channels": ",".join(c.value for c in candidates),
            "channel_selection": "",
            "template_id": message.template_id,
            "priority": (message.priority or Priority.NORMAL).value,
            "idempotency_key": message.idempotency_key,
            "payload_fingerprint": message.payload_fingerprint,
            "subject": message.content.subject,
            "text_body": message.content.text_body,
            "html_body": message.content.html_body,
            "data": json.dumps(message.data, sort_keys=True, separators=(",", ":")),
            "source": message.source,
            "create_time": message.create_time,
            "lease_token": None,
            "lease_expire_time": None,
        }
        values.update(_outcome_values(message))
        await self._conn.execute(messages.insert().values(**values))

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
        return _to_message(row) if row is not None else None

    async def list(
        self,
        workspace: str,
        *,
        customer_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Message]:
        """Newest first; `before` is the (create_time, id) keyset position to continue after."""
        query = select(messages).where(messages.c.workspace == workspace)
        if customer_id is not None:
            query = query.where(messages.c.customer_id == customer_id)
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
        return [_to_message(row) for row in rows]

    async def claim_due(
        self, *, now: datetime, limit: int, lease_token: str, lease_expire_time: datetime
    ) -> list[Message]:
        """Lease up to `limit` due messages and count the attempt; returns the claimed ones.

        Each UPDATE re-checks the lease condition, so of two dispatchers racing
        for a message exactly one sees rowcount 1 (SKIP LOCKED on PostgreSQL just
        keeps them from waiting on each other's candidates). Messages on a channel
        this version does not know are left to replicas of the version that wrote them.
        Held (SCHEDULED) messages are claimed once their release time came: the hold
        is stored, so it survives restarts, and the lease makes one replica release it.
        """
        claimable = and_(
            messages.c.state.in_(_PENDING),
            messages.c.channel.in_(_CLAIMABLE_CHANNELS),
            messages.c.next_attempt_time <= now,
            or_(messages.c.lease_expire_time.is_(None), messages.c.lease_expire_time <= now),
        )
        candidates = (
            (
                await self._conn.execute(
                    select(messages.c.id)
                    .where(claimable)
                    .order_by(messages.c.next_attempt_time)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        claimed: list[str] = []
        for message_id in candidates:
            result = await self._conn.execute(
                update(messages)
                .where(messages.c.id == message_id, claimable)
                .values(
                    lease_token=lease_token,
                    lease_expire_time=lease_expire_time,
                    attempt_count=messages.c.attempt_count + 1,
                )
            )
            if result.rowcount == 1:
                claimed.append(message_id)
        if not claimed:
            return []
        rows = (
            (await self._conn.execute(select(messages).where(messages.c.id.in_(claimed))))
            .mappings()
            .all()
        )
        return sorted((_to_message(row) for row in rows), key=lambda m: m.next_attempt_time)

    async def record_attempt(self, message: Message, lease_token: str) -> bool:
        """Store the attempt's outcome and release the lease; False if the lease was lost."""
        result = await self._conn.execute(
            update(messages)
            .where(messages.c.id == message.id, messages.c.lease_token == lease_token)
            .values(lease_token=None, lease_expire_time=None, **_outcome_values(message))
        )
        return result.rowcount == 1
