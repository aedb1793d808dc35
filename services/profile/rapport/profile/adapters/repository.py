"""Storage of events, traits, customer aliases and signals (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from rapport.profile.domain.documents import event_document, event_from_document
from rapport.profile.domain.model import EventType, SignalKind, SignalRecord, StoredEvent, Trait
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import Text, and_, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import customer_aliases, events, signals, traits

# Merges chain at most this deep before we stop following (a cycle would be a bug).
_MAX_ALIAS_HOPS = 16
_LOCK_NAMESPACE = "profile"


def _utc(moment: datetime) -> datetime:
    # SQLite drops the zone when binding: always hand it UTC.
    return as_utc(moment)


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

    # -- events ------------------------------------------------------------------

    async def stored_customers(
        self, workspace: str, message_ids: Collection[str]
    ) -> dict[str, str]:
        """message id -> customer, for the given message ids already stored."""
        if not message_ids:
            return {}
        rows = await self._conn.execute(
            select(events.c.message_id, events.c.customer_id).where(
                events.c.workspace == workspace, events.c.message_id.in_(list(message_ids))
            )
        )
        return {row.message_id: row.customer_id for row in rows}

    async def add_event(self, event: StoredEvent) -> int | None:
        """Insert the event; its seq, or None when the message id is already stored."""
        try:
            async with self._conn.begin_nested():
                result = await self._conn.execute(
                    insert(events).values(
                        workspace=event.workspace,
                        message_id=event.message_id,
                        event_id=event.event_id,
                        customer_id=event.customer_id,
                        type=event.type.value,
                        event_name=event.event_name,
                        timestamp=_utc(event.event_time),
                        received_at=_utc(event.receive_time),
                        document=event_document(event.sent),
                    )
                )
        except IntegrityError:
            return None  # a concurrent ingest stored the same message id first
        return int(result.inserted_primary_key[0])

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
            moment, seq = _utc(before[0]), before[1]
            query = query.where(
                or_(
                    events.c.timestamp < moment,
                    and_(events.c.timestamp == moment, events.c.seq < seq),
                )
            )
        query = query.order_by(events.c.timestamp.desc(), events.c.seq.desc()).limit(limit)
        return [_stored_event(row) for row in await self._conn.execute(query)]

    async def event_stats(
        self, workspace: str, customer_id: str
    ) -> tuple[int, datetime | None, datetime | None]:
        row = (
            await self._conn.execute(
                select(
                    func.count(), func.min(events.c.timestamp), func.max(events.c.timestamp)
                ).where(events.c.workspace == workspace, events.c.customer_id == customer_id)
            )
        ).one()
        count, first, last = row
        return int(count), as_utc(first), as_utc(last)

    async def count_events(self, workspace: str) -> int:
        return int(
            await self._conn.scalar(
                select(func.count()).select_from(events).where(events.c.workspace == workspace)
            )
            or 0
        )

    # -- traits ------------------------------------------------------------------

    async def traits_of(
        self, workspace: str, customer_ids: Collection[str]
    ) -> dict[str, dict[str, Trait]]:
        found: dict[str, dict[str, Trait]] = {customer_id: {} for customer_id in customer_ids}
        if not customer_ids:
            return found
        rows = await self._conn.execute(
            select(traits).where(
                traits.c.workspace == workspace, traits.c.customer_id.in_(list(customer_ids))
            )
        )
        for row in rows:
            found[row.customer_id][row.key] = Trait(
                value=row.value,
                source_message_id=row.source_message_id,
                update_time=as_utc(row.update_time),
                received_at=as_utc(row.received_at),
                batch_index=int(row.batch_index),
            )
        return found

    async def save_trait(self, workspace: str, customer_id: str, key: str, trait: Trait) -> None:
        # Callers hold the customer lock, so update-then-insert cannot race.
        values = {
            "value": trait.value,
            "source_message_id": trait.source_message_id,
            "update_time": _utc(trait.update_time),
            "received_at": _utc(trait.received_at),
            "batch_index": trait.batch_index,
        }
        result = await self._conn.execute(
            update(traits)
            .where(
                traits.c.workspace == workspace,
                traits.c.customer_id == customer_id,
                traits.c.key == key,
            )
            .values(**values)
        )
        if not result.rowcount:
            await self._conn.execute(
                insert(traits).values(
                    workspace=workspace, customer_id=customer_id, key=key, **values
                )
            )

    async def delete_traits(self, workspace: str, customer_ids: Sequence[str]) -> None:
        await self._conn.execute(
            delete(traits).where(
                traits.c.workspace == workspace, traits.c.customer_id.in_(list(customer_ids))
            )
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

    async def append_signal(
        self,
        workspace: str,
        kind: SignalKind,
        customer_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> int:
        result = await self._conn.execute(
            insert(signals).values(
                workspace=workspace,
                kind=kind.value,
                customer_id=customer_id,
                payload=payload,
                create_time=_utc(now),
            )
        )
        return int(result.inserted_primary_key[0])

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

    async def last_signal_seq(self) -> int:
        return int(await self._conn.scalar(select(func.max(signals.c.seq))) or 0)


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
