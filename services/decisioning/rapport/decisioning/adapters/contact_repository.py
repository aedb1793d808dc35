"""Storage of contacts counted against the contact limits, under a per-customer lock."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from rapport.decisioning.domain.contact_policy import Contact
from rapport.decisioning.domain.model import Channel
from rapport.sqlstore import advisory_xact_locks, as_utc, in_chunks
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .erased_customers import customer_lock_key, guard_values, unless_erased

# Refused for an erased customer: the customer column is unless_erased's.
_INSERT_CONTACTS = tables.contacts.insert().values(customer=unless_erased())


class ContactRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def lock_customer(self, workspace: str, customer: str) -> None:
        """Serialise the decisions of one customer until the transaction ends (PostgreSQL;
        SQLite serialises writers already): what one reads, the next one sees."""
        await self.lock_customers(workspace, [customer])

    async def lock_customers(self, workspace: str, customers: Iterable[str]) -> None:
        """lock_customer for several, in the one global key order (no deadlock). Taken
        first, before the statistics locks, by what writes about a customer and by its
        erasure: an outcome that read its decision is written before the erasure runs."""
        keys = [customer_lock_key(workspace, c) for c in set(customers)]
        await advisory_xact_locks(self._conn, keys)

    async def since(self, workspace: str, customer: str, since: datetime) -> list[Contact]:
        """The customer's contacts after `since` (later ones included)."""
        t = tables.contacts
        rows = await self._conn.execute(
            sa.select(t).where(
                t.c.workspace == workspace, t.c.customer == customer, t.c.contact_time > since
            )
        )
        return [
            Contact(
                channel=Channel(row.channel),
                purpose=row.purpose,
                action=row.action,
                time=as_utc(row.contact_time),
                decision_id=row.decision_id,
            )
            for row in rows
        ]

    async def add(self, workspace: str, customer: str, contacts: Sequence[Contact]) -> None:
        await self.add_many([(workspace, customer, contacts)])

    async def add_many(self, batches: Sequence[tuple[str, str, Sequence[Contact]]]) -> None:
        """Insert the contacts of several (workspace, customer) in one statement.
        IntegrityError when a customer was erased: on PostgreSQL the caller holds the
        customer's lock (or stores a decision with the contacts, which takes it)."""
        rows = [
            guard_values(workspace, customer)
            | {
                "workspace": workspace,
                "decision_id": contact.decision_id,
                "action": contact.action,
                "channel": contact.channel.value,
                "purpose": contact.purpose,
                "contact_time": contact.time,
            }
            for workspace, customer, contacts in batches
            for contact in contacts
        ]
        if rows:
            await self._conn.execute(_INSERT_CONTACTS, rows)

    async def channels_held(
        self, workspace: str, decision_ids: Collection[str]
    ) -> dict[tuple[str, str], set[str]]:
        """(decision id, action) -> the channels its contacts are on, for the decisions
        that hold any."""
        t = tables.contacts
        held: dict[tuple[str, str], set[str]] = {}
        for chunk in in_chunks(sorted(decision_ids)):
            rows = await self._conn.execute(
                sa.select(t.c.decision_id, t.c.action, t.c.channel).where(
                    t.c.workspace == workspace, t.c.decision_id.in_(chunk)
                )
            )
            for row in rows:
                held.setdefault((row.decision_id, row.action), set()).add(row.channel)
        return held

    async def keep_channel(
        self, workspace: str, decision_id: str, action: str, channel: Channel
    ) -> bool:
        """Of one decision's contacts about `action`, keep only the one on `channel` (the
        first moved there when none is); True when a row changed."""
        t = tables.contacts
        about = sa.and_(
            t.c.workspace == workspace, t.c.decision_id == decision_id, t.c.action == action
        )
        rows = (await self._conn.execute(sa.select(t.c.channel).where(about))).all()
        held = [row.channel for row in rows]
        if not held or held == [channel.value]:
            return False
        if channel.value not in held:
            await self._conn.execute(
                t.update().where(about, t.c.channel == held[0]).values(channel=channel.value)
            )
        await self._conn.execute(t.delete().where(about, t.c.channel != channel.value))
        return True

    async def delete_customer(self, workspace: str, customer: str) -> int:
        t = tables.contacts
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return result.rowcount or 0
