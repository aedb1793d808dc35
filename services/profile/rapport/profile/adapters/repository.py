"""Storage of events, message ids, customer aliases and signals (SQLAlchemy Core).

Traits and per-customer counters: trait_repository.py; groups: group_repository.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.profile.domain.documents import event_from_document
from rapport.profile.domain.model import EventType, SignalKind, SignalRecord, StoredEvent
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import Text, bindparam, cast, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import can_insert, insert_new, insert_rows, returning_clause
from .keyset import older_than
from .tables import customer_aliases, events, message_ids, signals

# Merges chain at most this deep before we stop following (a cycle would be a bug).
_MAX_ALIAS_HOPS = 16
_LOCK_NAMESPACE = "profile"
_PRUNE_KEY = advisory_key(_LOCK_NAMESPACE, "prune-message-ids")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_EVENT_COLUMNS = (
    "workspace",
    "message_id",
    "event_id",
    "customer_id",
    "type",
    "event_name",
    "timestamp",
    "received_at",
    "document",
)
_EVENT_RETURNING = ("event_id", "seq")
_SIGNAL_COLUMNS = ("workspace", "kind", "customer_id", "payload", "create_time")
# Read by every batch: built once (built per call, every listed id is coerced again).
_ALIASES_OF = select(
    customer_aliases.c.merged_customer_id, customer_aliases.c.survivor_customer_id
).where(
    customer_aliases.c.workspace == bindparam("workspace"),
    customer_aliases.c.merged_customer_id.in_(bindparam("customers", expanding=True)),
)


def _utc(moment: datetime) -> datetime:
    # SQLite drops the zone when binding: always hand it UTC.
    return as_utc(moment)


@dataclass(frozen=True)
class StoredMessage:
    """What the de-duplication record of a message id says."""

    customer_id: str
    event_id: str
    receive_time: datetime


class ProfileRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # -- locks (PostgreSQL; SQLite already serialises writers) ------------------

    async def lock_customers(self, workspace: str, customer_ids: Iterable[str]) -> None:
        """Serialise writers of the same customers' traits until commit (in one
        global key order, so concurrent writers queue instead of deadlocking)."""
        await advisory_xact_locks(
            self._conn,
            [advisory_key(_LOCK_NAMESPACE, "customer", workspace, c) for c in customer_ids],
        )

    async def lock_signal_log(self) -> None:
        """Make signal seq order equal commit order.

        Held from the first signal insert to commit: a reader that has seen seq N
        can never later find a committed seq below N (no gaps for cursors).
        Always taken after the customer locks.
        """
        await advisory_xact_locks(self._conn, [advisory_key(_LOCK_NAMESPACE, "signal-log")])

    async def try_lock_pruning(self) -> bool:
        """Whether this transaction may prune (PostgreSQL: no other replica is pruning;
        SQLite: always, writers are serialised anyway)."""
        if self._conn.dialect.name != "postgresql":
            return True
        return bool(await self._conn.scalar(_TRY_LOCK, {"key": _PRUNE_KEY}))

    # -- message ids (de-duplication) and events ---------------------------------

    async def stored_customers(
        self, workspace: str, message_ids_: Collection[str]
    ) -> dict[str, StoredMessage]:
        """message id -> its stored record, for the given message ids still recorded
        (the caller ignores records older than the window: pruning may lag). The
        customer is the one holding the event now (merges move events)."""
        if not message_ids_:
            return {}
        rows = (
            await self._conn.execute(
                select(
                    message_ids.c.message_id,
                    message_ids.c.customer_id,
                    message_ids.c.event_id,
                    message_ids.c.receive_time,
                ).where(
                    message_ids.c.workspace == workspace,
                    message_ids.c.message_id.in_(list(message_ids_)),
                )
            )
        ).all()
        if not rows:
            return {}  # the usual case: a separate query, so that it stays a key lookup
        holders = dict(
            (
                await self._conn.execute(
                    select(events.c.event_id, events.c.customer_id).where(
                        events.c.event_id.in_([row.event_id for row in rows])
                    )
                )
            ).all()
        )
        return {
            row.message_id: StoredMessage(
                holders.get(row.event_id, row.customer_id), row.event_id, as_utc(row.receive_time)
            )
            for row in rows
        }

    async def forget_message_ids(self, workspace: str, message_ids_: Collection[str]) -> None:
        """Drop records past the window that pruning has not reached yet."""
        if message_ids_:
            await self._conn.execute(
                delete(message_ids).where(
                    message_ids.c.workspace == workspace,
                    message_ids.c.message_id.in_(list(message_ids_)),
                )
            )

    async def claim_message_ids(
        self, workspace: str, claims: Sequence[tuple[str, str, str]], receive_time: datetime
    ) -> set[str]:
        """Record (message id, event id, customer) claims; the message ids claimed now.

        A message id recorded by a concurrent ingest is not claimed (it is a duplicate).
        In message id order: concurrent batches sharing message ids wait on each
        other's index entries in one order, never in a cycle.
        """
        rows = [
            {
                "workspace": workspace,
                "message_id": message_id,
                "event_id": event_id,
                "customer_id": customer_id,
                "receive_time": _utc(receive_time),
            }
            for message_id, event_id, customer_id in sorted(claims)
        ]
        return await insert_new(
            self._conn, message_ids, rows, ("workspace", "message_id"), returning="message_id"
        )

    async def prune_message_ids(self, received_before: datetime, limit: int) -> int:
        """Delete the oldest records received before the cutoff, about ``limit`` of them
        (the records of one batch share a receive time and go together); how many."""
        cutoff = _utc(received_before)
        boundary = await self._conn.scalar(
            select(message_ids.c.receive_time)
            .where(message_ids.c.receive_time < cutoff)
            .order_by(message_ids.c.receive_time)
            .offset(limit - 1)
            .limit(1)
        )
        condition = (
            message_ids.c.receive_time < cutoff
            if boundary is None
            else message_ids.c.receive_time <= boundary
        )
        result = await self._conn.execute(delete(message_ids).where(condition))
        return result.rowcount or 0

    async def add_events(
        self, stored: Sequence[StoredEvent], documents: Sequence[dict[str, Any]]
    ) -> dict[str, int]:
        """Insert the events with their documents (domain.documents; one executemany);
        event id -> its seq."""
        if not stored:
            return {}
        rows = [
            (
                event.workspace,
                event.message_id,
                event.event_id,
                event.customer_id,
                event.type.value,
                event.event_name,
                _utc(event.event_time),
                _utc(event.receive_time),
                document,
            )
            for event, document in zip(stored, documents, strict=True)
        ]
        if can_insert(self._conn, events, _EVENT_COLUMNS, _EVENT_RETURNING):
            found = await insert_rows(
                self._conn,
                events,
                _EVENT_COLUMNS,
                rows,
                tail=returning_clause(self._conn, events, _EVENT_RETURNING),
                returning=True,
            )
            return {event_id: int(seq) for event_id, seq in found}
        result = await self._conn.execute(
            insert(events).returning(events.c.event_id, events.c.seq),
            [dict(zip(_EVENT_COLUMNS, row, strict=True)) for row in rows],
        )
        return {row.event_id: int(row.seq) for row in result}

    async def get_event(self, workspace: str, event_id: str) -> StoredEvent | None:
        row = (
            await self._conn.execute(
                select(events).where(events.c.workspace == workspace, events.c.event_id == event_id)
            )
        ).one_or_none()
        return _stored_event(row) if row is not None else None

    async def reassign_events(self, workspace: str, from_ids: Sequence[str], to_id: str) -> int:
        result = await self._conn.execute(
            update(events)
            .where(events.c.workspace == workspace, events.c.customer_id.in_(list(from_ids)))
            .values(customer_id=to_id)
        )
        return result.rowcount or 0

    async def list_events(
        self,
        workspace: str,
        customer_id: str | None,
        *,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[StoredEvent]:
        """Newest first by (event time, seq), strictly after the keyset position ``before``."""
        query = select(events).where(events.c.workspace == workspace)
        if customer_id is not None:
            query = query.where(events.c.customer_id == customer_id)
        if before is not None:
            query = query.where(older_than(events.c.timestamp, events.c.seq, before))
        query = query.order_by(events.c.timestamp.desc(), events.c.seq.desc()).limit(limit)
        return [_stored_event(row) for row in await self._conn.execute(query)]

    async def count_events(self, workspace: str) -> int:
        return int(
            await self._conn.scalar(
                select(func.count()).select_from(events).where(events.c.workspace == workspace)
            )
            or 0
        )

    # -- customer aliases (merges) -----------------------------------------------

    async def survivor_of(self, workspace: str, customer_id: str) -> str:
        """The customer that ``customer_id`` was (transitively) merged into, or itself."""
        current = customer_id
        for _ in range(_MAX_ALIAS_HOPS):
            survivor = await self._conn.scalar(
                select(customer_aliases.c.survivor_customer_id).where(
                    customer_aliases.c.workspace == workspace,
                    customer_aliases.c.merged_customer_id == current,
                )
            )
            if survivor is None or survivor == current:
                return current
            current = survivor
        return current

    async def record_merge(
        self, workspace: str, merged_id: str, survivor_id: str, now: datetime
    ) -> None:
        # Keep chains one hop long: whatever pointed at the merged customer now
        # points at the survivor.
        await self._conn.execute(
            update(customer_aliases)
            .where(
                customer_aliases.c.workspace == workspace,
                customer_aliases.c.survivor_customer_id == merged_id,
            )
            .values(survivor_customer_id=survivor_id)
        )
        result = await self._conn.execute(
            update(customer_aliases)
            .where(
                customer_aliases.c.workspace == workspace,
                customer_aliases.c.merged_customer_id == merged_id,
            )
            .values(survivor_customer_id=survivor_id)
        )
        if not result.rowcount:
            await self._conn.execute(
                insert(customer_aliases).values(
                    workspace=workspace,
                    merged_customer_id=merged_id,
                    survivor_customer_id=survivor_id,
                    create_time=_utc(now),
                )
            )

    async def aliases_of(self, workspace: str, customer_ids: Collection[str]) -> dict[str, str]:
        """merged customer -> survivor, for those of the customers merged away."""
        if not customer_ids:
            return {}
        rows = await self._conn.execute(
            _ALIASES_OF, {"workspace": workspace, "customers": sorted(customer_ids)}
        )
        return {merged: survivor for merged, survivor in rows if merged != survivor}

    async def forget_aliases(self, workspace: str, customer_ids: Collection[str]) -> None:
        """Identity names these customers as live again (e.g. after an unmerge)."""
        if customer_ids:
            await self._conn.execute(
                delete(customer_aliases).where(
                    customer_aliases.c.workspace == workspace,
                    customer_aliases.c.merged_customer_id.in_(list(customer_ids)),
                )
            )

    # -- signals -----------------------------------------------------------------

    async def append_signals(
        self,
        workspace: str,
        appended: Sequence[tuple[SignalKind, str, dict[str, Any]]],
        now: datetime,
    ) -> None:
        """Append (kind, customer, payload) signals in order (one executemany)."""
        if not appended:
            return
        create_time = _utc(now)
        rows = [
            (workspace, kind.value, customer_id, payload, create_time)
            for kind, customer_id, payload in appended
        ]
        if can_insert(self._conn, signals, _SIGNAL_COLUMNS):
            await insert_rows(self._conn, signals, _SIGNAL_COLUMNS, rows)
            return
        await self._conn.execute(
            insert(signals), [dict(zip(_SIGNAL_COLUMNS, row, strict=True)) for row in rows]
        )

    async def signals_after(
        self, workspace: str, after_seq: int, kinds: Collection[SignalKind], limit: int
    ) -> list[SignalRecord]:
        """The rows as stored: the payload as JSON text, decoded by the reader row by
        row, so that one row it cannot decode does not fail the whole read."""
        query = select(
            signals.c.seq,
            signals.c.workspace,
            signals.c.kind,
            signals.c.customer_id,
            cast(signals.c.payload, Text).label("payload"),
            signals.c.create_time,
        ).where(signals.c.workspace == workspace, signals.c.seq > after_seq)
        if kinds:
            query = query.where(signals.c.kind.in_([kind.value for kind in kinds]))
        query = query.order_by(signals.c.seq).limit(limit)
        return [
            SignalRecord(
                seq=int(row.seq),
                workspace=row.workspace,
                kind=row.kind,
                customer_id=row.customer_id,
                payload=row.payload,
                create_time=as_utc(row.create_time),
            )
            for row in await self._conn.execute(query)
        ]


def _stored_event(row: Any) -> StoredEvent:
    event_type = EventType(row.type)
    return StoredEvent(
        event_id=row.event_id,
        workspace=row.workspace,
        customer_id=row.customer_id,
        type=event_type,
        event_time=as_utc(row.timestamp),
        receive_time=as_utc(row.received_at),
        sent=event_from_document(row.document, type=event_type, message_id=row.message_id),
        seq=int(row.seq),
    )
