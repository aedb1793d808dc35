"""Messages in SQL (SQLAlchemy Core); the same statements on SQLite and PostgreSQL.

Rows are read back leniently: a channel or state this version does not know (written
by a newer one) becomes None, and template data that is not a JSON object becomes
None, each with a warning naming the message; see domain.model.Message. One such row
never makes a read or a claim fail.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
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
    StatusChange,
)
from rapport.sqlstore import as_utc
from sqlalchemy import Integer, String, and_, bindparam, case, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from .driver_rows import execute_rows
from .selection_codec import selection_from_text, selection_to_text
from .status_history import (
    identifiers_from_text,
    identifiers_to_text,
    unless_erased,
    write_changes,
    write_changes_many,
)
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
        last_error=row["last_error"],
        recipient=row["recipient"],
        recipient_key=row["recipient_key"],
        identifiers=identifiers_from_text(row["identifiers"]),
        delivery_time=as_utc(row["delivery_time"]),
        open_time=as_utc(row["open_time"]),
        click_time=as_utc(row["click_time"]),
        erase_time=as_utc(row["erase_time"]),
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
        "last_error": message.last_error,
        # Where it went (set when it is prepared for sending; erased with the customer).
        "recipient": message.recipient,
        "recipient_key": message.recipient_key,
        "identifiers": identifiers_to_text(message.identifiers),
        # Set once a best channel is chosen; never unset.
        **({"channel": message.channel.value} if message.channel is not None else {}),
        **(
            {"channel_selection": selection_to_text(message.selection)}
            if message.selection is not None and message.selection.select_time is not None
            else {}
        ),
    }


def _erased_or(column: str) -> Any:
    # Empty when the customer was erased while the attempt ran (see unless_erased).
    return case(
        (messages.c.erase_time.is_not(None), "[]" if column == "identifiers" else ""),
        else_=bindparam(f"b_{column}"),
    )


# The claim's statements, built once (the dispatcher claims many times a second): a
# message is claimable when pending, on a channel this version knows (or none yet), due,
# and not leased (or its lease expired) at `c_now`.
_CLAIM_NOW = bindparam("c_now", type_=messages.c.next_attempt_time.type)
_CLAIMABLE = and_(
    messages.c.state.in_(_PENDING),
    messages.c.channel.in_(_CLAIMABLE_CHANNELS),
    messages.c.next_attempt_time <= _CLAIM_NOW,
    or_(messages.c.lease_expire_time.is_(None), messages.c.lease_expire_time <= _CLAIM_NOW),
)
_CLAIM_ANY = (
    select(messages.c.id)
    .where(_CLAIMABLE)
    .order_by(messages.c.next_attempt_time)
    .limit(bindparam("c_room", type_=Integer))
    .with_for_update(skip_locked=True)
)
_CLAIM_LANE = (
    select(messages.c.id)
    .where(_CLAIMABLE, messages.c.channel == bindparam("c_lane", type_=String))
    .order_by(messages.c.next_attempt_time)
    .limit(bindparam("c_room", type_=Integer))
    .with_for_update(skip_locked=True)
)
# Every lane at once (the usual case under load), with each candidate's lane.
_CLAIM_LANES = (
    select(messages.c.id, messages.c.channel)
    .where(_CLAIMABLE, messages.c.channel.in_(bindparam("c_lanes", expanding=True)))
    .order_by(messages.c.next_attempt_time)
    .limit(bindparam("c_room", type_=Integer))
    .with_for_update(skip_locked=True)
)
# The UPDATE re-checks the lease condition: of two dispatchers racing, one claims.
_CLAIM = (
    update(messages)
    .where(messages.c.id.in_(bindparam("c_ids", expanding=True)), _CLAIMABLE)
    .values(
        lease_token=bindparam("c_token", type_=String),
        lease_expire_time=bindparam("c_expire", type_=messages.c.lease_expire_time.type),
        attempt_count=messages.c.attempt_count + 1,
        state=MessageState.SENDING.value,
    )
    .returning(*messages.c)
)

# The leases of messages whose outcomes are recorded, locked until they are stored.
_LEASES_HELD = (
    select(messages.c.id, messages.c.lease_token)
    .where(messages.c.id.in_(bindparam("l_ids", expanding=True)))
    .with_for_update()
)

# One outcome (the columns of _outcome_values), executed with a row per message: the
# channel and its selection are kept when the row's value is NULL (not chosen yet).
_RECORD_OUTCOME = (
    update(messages)
    .where(messages.c.id == bindparam("b_id"))
    .values(
        lease_token=None,
        lease_expire_time=None,
        **{
            column: bindparam(f"b_{column}")
            for column in (
                "state",
                "attempt_count",
                "provider",
                "provider_message_id",
                "failure_reason",
                "update_time",
                "send_time",
                "next_attempt_time",
                "ambiguous_provider",
                "locale",
                "failure_detail",
                "scheduled_time",
                "schedule_reason",
                "last_error",
            )
        },
        recipient=_erased_or("recipient"),
        recipient_key=_erased_or("recipient_key"),
        identifiers=_erased_or("identifiers"),
        channel=func.coalesce(bindparam("b_channel", type_=String), messages.c.channel),
        channel_selection=func.coalesce(
            bindparam("b_channel_selection", type_=String), messages.c.channel_selection
        ),
    )
)


_INSERT_MESSAGE = messages.insert()
# Built once (json.dumps with options builds an encoder per call); the same text.
_data_text = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _new_row(message: Message) -> dict[str, Any]:
    """The row of a new message (every column, so that rows insert together)."""
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
        "data": _data_text(message.data),
        "source": message.source,
        "create_time": message.create_time,
        "lease_token": None,
        "lease_expire_time": None,
    }
    values.update(_outcome_values(message))
    return values


class MessageRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, message: Message) -> None:
        """Insert a new message (its idempotency key is recorded apart: IdempotencyKeys)."""
        await self.add_many([message])

    async def add_many(self, batch: Sequence[Message]) -> None:
        """Insert new messages, their QUEUED history and its profile events: one statement
        each, whatever the number of messages (idempotency keys: IdempotencyKeys)."""
        if not batch:
            return
        await execute_rows(self._conn, _INSERT_MESSAGE, [_new_row(m) for m in batch])
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
        return {row["id"]: _to_message(row) for row in rows}

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
        return [_to_message(row) for row in rows]

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease_token: str,
        lease_expire_time: datetime,
        lanes: Mapping[str, int] | None = None,
    ) -> list[Message]:
        """Lease up to `limit` due messages, count the attempt and mark them SENDING;
        returns the claimed ones.

        `lanes` (channel value, "" for best-channel messages not on a channel yet ->
        at most that many) limits the claim per channel; None: any known channel.
        The UPDATE re-checks the lease condition, so of two dispatchers racing for a
        message exactly one claims it; on PostgreSQL the candidates are also locked
        FOR UPDATE SKIP LOCKED so racing replicas take different ones instead of
        waiting on each other (SQLite has one writer at a time: the unit of work's
        write lock). Messages on a channel this version does not know are left to
        replicas of the version that wrote them. Held (SCHEDULED) messages are claimed
        once their release time came: the hold is stored, so it survives restarts,
        and the lease makes one replica release it.
        """
        wanted = (
            [(None, limit)]
            if lanes is None
            else [(lane, min(room, limit)) for lane, room in lanes.items() if room > 0]
        )
        candidates: list[str] = []
        if len(wanted) > 1:
            # One query for every lane (the oldest due first) instead of one per lane,
            # kept when no lane got more than its room (always so when each has room for
            # the whole claim; a lane short of room seldom has more due than it takes);
            # otherwise each lane is asked on its own below.
            every = {"c_now": now, "c_room": limit, "c_lanes": [lane for lane, _ in wanted]}
            due = (await self._conn.execute(_CLAIM_LANES, every)).all()
            rooms = dict(wanted)
            per_lane = Counter(lane for _, lane in due)
            if all(count <= rooms[lane] for lane, count in per_lane.items()):
                candidates = [message_id for message_id, _ in due]
                wanted = []
        for lane, room in wanted:
            room = min(room, limit - len(candidates))
            if room <= 0:
                break
            if lane is None:
                query, params = _CLAIM_ANY, {"c_now": now, "c_room": room}
            else:
                query, params = _CLAIM_LANE, {"c_now": now, "c_room": room, "c_lane": lane}
            candidates += (await self._conn.execute(query, params)).scalars().all()
        if not candidates:
            return []
        rows = (
            (
                await self._conn.execute(
                    _CLAIM,
                    {
                        "c_now": now,
                        "c_ids": candidates,
                        "c_token": lease_token,
                        "c_expire": lease_expire_time,
                    },
                )
            )
            .mappings()
            .all()
        )
        return sorted((_to_message(row) for row in rows), key=lambda m: m.next_attempt_time)

    async def replay(self, message: Message) -> bool:
        """Store a replayed dead letter (Message.replay); False if it is no longer one."""
        result = await self._conn.execute(
            update(messages)
            .where(
                messages.c.id == message.id,
                messages.c.state == MessageState.DEAD_LETTERED.value,
            )
            .values(lease_token=None, lease_expire_time=None, **_outcome_values(message))
        )
        if result.rowcount != 1:
            return False
        await write_changes(self._conn, message, now=message.update_time)
        return True

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
    ) -> list[str]:
        """Cancel the customer's queued and held messages of `purpose` on `channel` that no
        dispatcher holds a live lease on (those check consent right before sending);
        returns the ids cancelled. Their history rows and profile events (`Email
        Cancelled`...) are written in the caller's transaction, one statement each; a
        message never attempted (no stored identifiers) is attributed with `identifiers`."""
        pending = and_(
            messages.c.workspace == workspace,
            messages.c.customer_id == customer_id,
            messages.c.purpose == purpose,
            messages.c.channel == channel.value,
            messages.c.state.in_(_PENDING),
            or_(messages.c.lease_expire_time.is_(None), messages.c.lease_expire_time <= now),
        )
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
        cancelled = [_to_message(row) for row in result.mappings().all()]
        for message in cancelled:
            message.identifiers = message.identifiers or identifiers
            message.changes.append(StatusChange(MessageState.CANCELLED.value, now, reason))
        await write_changes_many(self._conn, cancelled, now=now)
        return [message.id for message in cancelled]

    async def record_attempts(self, batch: Sequence[tuple[Message, str]]) -> list[bool]:
        """record_attempt for many (message, lease token) pairs in a few statements: the
        leases are read (and locked on PostgreSQL; SQLite's writer holds the database),
        the outcomes of those still held stored with one UPDATE executed for all, and
        their status changes in one statement (plus one for their profile events).
        Per pair: False if the lease was lost."""
        if not batch:
            return []
        held = dict(
            (await self._conn.execute(_LEASES_HELD, {"l_ids": [m.id for m, _ in batch]})).all()
        )
        kept = [held.get(message.id) == token for message, token in batch]
        mine = [message for (message, _), ok in zip(batch, kept, strict=True) if ok]
        if not mine:
            return kept
        rows = []
        for message in mine:
            values = _outcome_values(message)
            rows.append(
                {
                    "b_id": message.id,
                    "b_channel": values.pop("channel", None),
                    "b_channel_selection": values.pop("channel_selection", None),
                    **{f"b_{column}": value for column, value in values.items()},
                }
            )
        result = await execute_rows(self._conn, _RECORD_OUTCOME, rows)
        if result is None or result.rowcount not in (len(rows), -1):
            raise RuntimeError("a held lease was not found when recording")
        await write_changes_many(self._conn, mine)
        return kept

    async def record_attempt(self, message: Message, lease_token: str) -> bool:
        """Store the attempt's outcome and release the lease; False if the lease was lost."""
        result = await self._conn.execute(
            update(messages)
            .where(messages.c.id == message.id, messages.c.lease_token == lease_token)
            .values(
                lease_token=None,
                lease_expire_time=None,
                # An erasure while the attempt ran keeps the message's addresses erased.
                **{**_outcome_values(message), **unless_erased(message)},
            )
        )
        if result.rowcount != 1:
            return False
        await write_changes(self._conn, message, now=message.update_time)
        return True
