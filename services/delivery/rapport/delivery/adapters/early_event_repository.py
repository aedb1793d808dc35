"""Provider events held until their message's SENT is recorded (uow.early_events).

An event is held under the message's id when the message is known (its attempt in
flight), or under the provider's id of the message while no message carries that id
yet (the provider answered, delivery has not recorded it). The transaction recording
SENT takes the events held under either key. On PostgreSQL, a callback looking a
message up by its provider id and the recording of that id take the same advisory
lock: a callback either sees the message SENT or holds its event before the recording
looks (SQLite serialises writers already).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from rapport.delivery.domain.model import Message, MessageState
from rapport.delivery.domain.status import EarlyEvent, ProviderEvent
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc, insert_if_absent
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import early_provider_events as held

_log = logging.getLogger(__name__)

_LOCK_NAMESPACE = "delivery-provider-message-id"
_MAX_REASON = 256
_HOLD = insert_if_absent(held, "match_key", "event")
# Built once: the recording of attempts runs it for every batch of outcomes.
_TAKE = (
    delete(held).where(held.c.match_key.in_(bindparam("e_keys", expanding=True))).returning(*held.c)
)


MESSAGE_KEY_PREFIX = "m:"


def message_key(message_id: str) -> str:
    return MESSAGE_KEY_PREFIX + message_id


def provider_key(provider: str, provider_message_id: str) -> str:
    # Neither part holds control characters (checked when read): \x1f cannot be in them.
    return f"p:{provider}\x1f{provider_message_id}"


def _keys_of(message: Message) -> list[str]:
    keys = [message_key(message.id)]
    if message.state is MessageState.SENT and message.provider_message_id:
        keys.append(provider_key(message.provider, message.provider_message_id))
    return keys


def _read(row: dict[str, object]) -> EarlyEvent:
    time, received = row["event_time"], row["receive_time"]
    if not isinstance(time, datetime) or not isinstance(received, datetime):
        raise ValueError("time")
    return EarlyEvent(
        event=ProviderEvent(str(row["event"])),
        time=as_utc(time),
        reason=str(row["reason"]),
        reporter=str(row["reporter"]),
        receive_time=as_utc(received),
        opted_out=bool(row["opted_out"]),
    )


class EarlyEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def lock_provider_id(self, provider: str, provider_message_id: str) -> None:
        """Serialise with the recording of this provider id until the transaction ends
        (PostgreSQL; a no-op on SQLite)."""
        await advisory_xact_locks(
            self._conn, [advisory_key(_LOCK_NAMESPACE, provider, provider_message_id)]
        )

    async def hold(
        self, key: str, early: EarlyEvent, *, workspace: str = "", customer_id: str = ""
    ) -> bool:
        """Store `early` under `key`; False when that event is already held there."""
        row = {
            "match_key": key,
            "event": early.event.value,
            "workspace": workspace,
            "customer_id": customer_id,
            "event_time": early.time,
            "reason": early.reason[:_MAX_REASON],
            "reporter": early.reporter[:64],
            "opted_out": int(early.opted_out),
            "receive_time": early.receive_time,
        }
        dialect = self._conn.dialect.name
        if dialect in _HOLD:
            result = await self._conn.execute(_HOLD[dialect], row)
            return result.rowcount == 1
        found = await self._conn.execute(
            select(held.c.match_key).where(
                held.c.match_key == key, held.c.event == early.event.value
            )
        )
        if found.first() is not None:
            return False
        await self._conn.execute(held.insert(), row)
        return True

    async def take(self, finished: Sequence[Message]) -> dict[str, list[EarlyEvent]]:
        """Remove the events held for messages whose attempts just ended (SENT or not),
        and return those of the SENT ones, by message id. Events of a message that ended
        otherwise are dropped with it: it never takes provider events. A stored event
        this version cannot read (or one held for another workspace) is dropped, logged."""
        if not finished:
            return {}
        owners: dict[str, Message] = {}
        for message in finished:
            for key in _keys_of(message):
                owners[key] = message
        await advisory_xact_locks(
            self._conn,
            [
                advisory_key(_LOCK_NAMESPACE, m.provider, m.provider_message_id)
                for m in finished
                if m.state is MessageState.SENT and m.provider_message_id
            ],
        )
        rows = (await self._conn.execute(_TAKE, {"e_keys": list(owners)})).mappings().all()
        taken: dict[str, list[EarlyEvent]] = {}
        for row in rows:
            message = owners.get(row["match_key"])
            if message is None or message.state is not MessageState.SENT:
                continue
            if row["workspace"] and row["workspace"] != message.workspace:
                _log.warning("held provider event of another workspace dropped")
                continue
            try:
                early = _read(dict(row))
            except (ValueError, TypeError, KeyError):
                _log.warning(
                    "unreadable held provider event dropped",
                    extra={"message_id": message.id, "status": str(row.get("event", ""))[:32]},
                )
                continue
            taken.setdefault(message.id, []).append(early)
        return taken

    async def erase_customer(self, workspace: str, customer_id: str) -> int:
        """Delete the events held for the customer's messages."""
        result = await self._conn.execute(
            delete(held).where(held.c.workspace == workspace, held.c.customer_id == customer_id)
        )
        return result.rowcount or 0

    async def prune(self, *, received_before: datetime, limit: int) -> int:
        """Delete the events held since before `received_before`, those of at most
        `limit` keys (a short transaction whatever the backlog)."""
        oldest = (
            select(held.c.match_key)
            .where(held.c.receive_time < received_before)
            .order_by(held.c.receive_time)
            .limit(limit)
        )
        result = await self._conn.execute(
            delete(held).where(held.c.receive_time < received_before, held.c.match_key.in_(oldest))
        )
        return result.rowcount or 0
