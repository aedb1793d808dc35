"""The consent ledger on SQLAlchemy Core: append and read, never update; entries are
deleted only by a data subject's erasure (``erase_customers``).

Entries are read back leniently: a channel or state this version does not know
(written by a newer one) becomes None, with a warning naming the entry, so one such
entry never makes a read fail (domain.model.ConsentEntry says what it means).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from rapport.consent.adapters.tables import consent_ledger as ledger
from rapport.consent.domain.model import (
    Channel,
    ConsentEntry,
    ConsentKey,
    CurrentState,
    known_channel,
    known_state,
)
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

_log = logging.getLogger(__name__)

# The workspace of the placeholders keeping an erased last position (no workspace id
# is empty, so no read of a workspace ever sees one).
ERASED_PLACEHOLDER_WORKSPACE = ""

_newest_first_in_force = (ledger.c.effective_time.desc(), ledger.c.seq.desc())


def ledger_lock_key(workspace: str) -> int:
    """Held while appending to a workspace's ledger (PostgreSQL), so seq order is commit
    order there and WatchConsentRecords never passes an entry still uncommitted."""
    return advisory_key("consent", "ledger", workspace)


def _unreadable(row: Any, why: str) -> None:
    # The entry and what could not be read; the value itself is not logged.
    _log.warning(
        "ledger entry holds a value this version cannot read",
        extra={"resource": row.id, "customer": row.customer_id, "error_reason": why},
    )


def _entry(row: Any) -> ConsentEntry:
    channel = known_channel(row.channel)
    if channel is None:
        _unreadable(row, "UNKNOWN_CHANNEL")
    state = known_state(row.state)
    if state is None:
        _unreadable(row, "UNKNOWN_STATE")
    return ConsentEntry(
        id=row.id,
        workspace=row.workspace,
        customer_id=row.customer_id,
        purpose=row.purpose,
        channel=channel,
        state=state,
        source=row.source,
        notice_version=row.notice_version,
        proof=row.proof,
        effective_time=as_utc(row.effective_time),
        record_time=as_utc(row.record_time),
        seq=row.seq,
    )


# Decisions only: a notice (derived_from set) is streamed, never an answer.
_decision = ledger.c.derived_from.is_(None)


def _customers_clause(customer_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    if len(customer_ids) == 1:
        return ledger.c.customer_id == customer_ids[0]
    return ledger.c.customer_id.in_(sorted(customer_ids))


def _key_clause(key: ConsentKey, group: Sequence[str] | None) -> sa.ColumnElement[bool]:
    """The decisions about `key`'s purpose and channel of the customers of `group`
    (the key's customer and those answering with it; only the key's customer if None)."""
    return sa.and_(
        ledger.c.workspace == key.workspace,
        _customers_clause(group or [key.customer_id]),
        ledger.c.purpose == key.purpose,
        ledger.c.channel == key.channel.value,
        _decision,
    )


class LedgerRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, entry: ConsentEntry, *, derived_from: str | None = None) -> ConsentEntry:
        """Append an entry (a notice when `derived_from` is set); returns it with its
        ledger position."""
        if entry.channel is None or entry.state is None:
            raise ValueError(f"entry {entry.id} needs a known channel and state to be recorded")
        await advisory_xact_locks(self._connection, [ledger_lock_key(entry.workspace)])
        result = await self._connection.execute(
            sa.insert(ledger)
            .values(
                id=entry.id,
                workspace=entry.workspace,
                customer_id=entry.customer_id,
                purpose=entry.purpose,
                channel=entry.channel.value,
                state=entry.state.value,
                source=entry.source,
                notice_version=entry.notice_version,
                proof=entry.proof,
                effective_time=entry.effective_time.astimezone(UTC),
                record_time=entry.record_time.astimezone(UTC),
                derived_from=derived_from,
            )
            .returning(ledger.c.seq)
        )
        return replace(entry, seq=result.scalar_one())

    async def get(self, workspace: str, customer_id: str, entry_id: str) -> ConsentEntry | None:
        """The entry with this id, if it is this customer's."""
        row = (
            await self._connection.execute(
                sa.select(ledger).where(
                    ledger.c.id == entry_id,
                    ledger.c.workspace == workspace,
                    ledger.c.customer_id == customer_id,
                )
            )
        ).first()
        return _entry(row) if row is not None else None

    async def entry_in_force_at(
        self, key: ConsentKey, at: datetime, group: Sequence[str] | None = None
    ) -> ConsentEntry | None:
        """Same rule as domain.model.entry_in_force_at, as one indexed query."""
        at = at.astimezone(UTC)
        row = (
            await self._connection.execute(
                sa.select(ledger)
                .where(
                    _key_clause(key, group),
                    ledger.c.effective_time <= at,
                    ledger.c.record_time <= at,
                )
                .order_by(*_newest_first_in_force)
                .limit(1)
            )
        ).first()
        return _entry(row) if row is not None else None

    async def current_state(
        self, key: ConsentKey, now: datetime, group: Sequence[str] | None = None
    ) -> CurrentState:
        """Same rule as domain.model.current_state, as two indexed queries."""
        now = now.astimezone(UTC)
        in_force_now = sa.or_(
            ledger.c.effective_time <= now, ledger.c.effective_time <= ledger.c.record_time
        )
        row = (
            await self._connection.execute(
                sa.select(ledger)
                .where(_key_clause(key, group), in_force_now)
                .order_by(*_newest_first_in_force)
                .limit(1)
            )
        ).first()
        valid_until = await self._connection.scalar(
            sa.select(sa.func.min(ledger.c.effective_time)).where(
                _key_clause(key, group), sa.not_(in_force_now)
            )
        )
        return CurrentState(
            _entry(row) if row is not None else None,
            as_utc(valid_until) if valid_until is not None else None,
        )

    async def entries_for_keys(
        self, workspace: str, keys: Sequence[tuple[str, str, Channel]]
    ) -> list[ConsentEntry]:
        """Every entry of the given (customer_id, purpose, channel) keys, in one query."""
        if not keys:
            return []
        distinct = sorted({(c, p, ch.value) for c, p, ch in keys})
        rows = await self._connection.execute(
            sa.select(ledger).where(
                ledger.c.workspace == workspace,
                sa.tuple_(ledger.c.customer_id, ledger.c.purpose, ledger.c.channel).in_(distinct),
                _decision,
            )
        )
        return [_entry(row) for row in rows]

    async def decisions_of(self, workspace: str, customer_ids: Sequence[str]) -> list[ConsentEntry]:
        """Every decision recorded for these customers."""
        rows = await self._connection.execute(
            sa.select(ledger).where(
                ledger.c.workspace == workspace, _customers_clause(customer_ids), _decision
            )
        )
        return [_entry(row) for row in rows]

    async def entries_of_customers(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> list[tuple[ConsentEntry, str | None]]:
        """Every entry recorded for these customers, decisions and notices (with the id
        a notice derives from; None for a decision), in ledger order."""
        rows = await self._connection.execute(
            sa.select(ledger)
            .where(ledger.c.workspace == workspace, _customers_clause(customer_ids))
            .order_by(ledger.c.seq)
        )
        return [(_entry(row), row.derived_from) for row in rows]

    async def erase_customers(
        self, workspace: str, customer_ids: Sequence[str], now: datetime
    ) -> int:
        """Delete every entry of these customers (a data subject's erasure); how many.

        Ledger positions must never be given out twice nor go back (watchers hold them
        as cursors; SQLite would reuse the highest rowid once deleted): when the
        ledger's last entry goes, a placeholder outside every workspace keeps its
        position, holding nothing about anyone."""
        await advisory_xact_locks(self._connection, [ledger_lock_key(workspace)])
        last = await self.last_seq()
        erased = sa.and_(ledger.c.workspace == workspace, _customers_clause(customer_ids))
        holds_last = await self._connection.scalar(
            sa.select(ledger.c.seq).where(erased, ledger.c.seq == last)
        )
        result = await self._connection.execute(sa.delete(ledger).where(erased))
        if holds_last is not None:
            at = now.astimezone(UTC)
            await self._connection.execute(
                sa.insert(ledger).values(
                    seq=last,
                    id=uuid.uuid4().hex,
                    workspace=ERASED_PLACEHOLDER_WORKSPACE,
                    customer_id="",
                    purpose="",
                    channel="",
                    state="",
                    source="",
                    notice_version="",
                    proof="",
                    effective_time=at,
                    record_time=at,
                    derived_from="",
                )
            )
        return int(result.rowcount or 0)

    async def last_seq(self) -> int:
        value = await self._connection.scalar(sa.select(sa.func.max(ledger.c.seq)))
        return int(value or 0)

    async def entries_after(self, workspace: str, after: int, limit: int) -> list[Any]:
        """Up to `limit` raw rows of the workspace's ledger past position `after`, in
        ledger order (decoded by `decode`, so one unreadable row never fails a read)."""
        rows = await self._connection.execute(
            sa.select(ledger)
            .where(ledger.c.workspace == workspace, ledger.c.seq > after)
            .order_by(ledger.c.seq)
            .limit(limit)
        )
        return list(rows)

    async def list_by_customer(
        self,
        workspace: str,
        group: Sequence[str],
        *,
        purpose: str | None,
        channel: Channel | None,
        before_seq: int | None,
        limit: int,
    ) -> list[ConsentEntry]:
        """The decisions of a customer's group newest first (by ledger position),
        keyset-paginated."""
        query = sa.select(ledger).where(
            ledger.c.workspace == workspace, _customers_clause(group), _decision
        )
        if purpose is not None:
            query = query.where(ledger.c.purpose == purpose)
        if channel is not None:
            query = query.where(ledger.c.channel == channel.value)
        if before_seq is not None:
            query = query.where(ledger.c.seq < before_seq)
        rows = await self._connection.execute(query.order_by(ledger.c.seq.desc()).limit(limit))
        return [_entry(row) for row in rows]


def decode(row: Any) -> ConsentEntry:
    """A raw ledger row as an entry (None channel or state when this version cannot read it)."""
    return _entry(row)
