"""Storage for unmerge, erasure and the change log (SQLAlchemy Core, SQLite or PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.identity.domain.model import Customer, Identifier, IdentityChange
from rapport.sqlstore import as_utc
from sqlalchemy import Row, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import (
    blocked_identifiers,
    chunks,
    customers,
    identifiers,
    identity_changes,
    match_models,
    match_reviews,
    merges,
    separations,
)

_CHANGE_LOG_KEY = int.from_bytes(
    hashlib.blake2b(b"rapport.identity\x1fchange-log", digest_size=8).digest(), "big", signed=True
)


async def lock_change_log(connection: AsyncConnection) -> None:
    """Make identity_changes seq order equal commit order (PostgreSQL; SQLite serialises writers).

    Taken right before appending to the log and held until commit: a reader that
    has seen seq N can never later find a committed seq below N, so WatchChanges
    cursors never skip a change. Take it as the LAST lock of the transaction.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHANGE_LOG_KEY})


@dataclass(frozen=True)
class LinkedIdentifier:
    identifier: Identifier
    customer_id: str
    origin_customer_id: str | None


@dataclass(frozen=True)
class ChangeRow:
    seq: int
    kind: str
    customer_id: str
    other_customer_id: str | None
    change_time: datetime


def _change(row: Row[Any]) -> ChangeRow:
    return ChangeRow(
        seq=int(row.seq),
        kind=row.kind,
        customer_id=row.customer_id,
        other_customer_id=row.other_customer_id,
        change_time=as_utc(row.change_time),
    )


class LifecycleRepository:
    """Reads and writes of UnmergeCustomer, EraseCustomer and WatchChanges on one connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"

    async def lock_customer_row(self, workspace: str, customer_id: str) -> str | None | bool:
        """Lock the customer's row (PostgreSQL FOR UPDATE) and read its merged_into.

        False when the customer does not exist.
        """
        statement = select(customers.c.merged_into).where(
            customers.c.workspace == workspace, customers.c.customer_id == customer_id
        )
        if self._postgres:
            statement = statement.with_for_update()
        row = (await self._connection.execute(statement)).first()
        return False if row is None else row.merged_into

    async def cluster(self, workspace: str, survivor_id: str) -> list[str]:
        """The customers merged into the survivor (merged_into always names the live one)."""
        rows = await self._connection.execute(
            select(customers.c.customer_id)
            .where(customers.c.workspace == workspace, customers.c.merged_into == survivor_id)
            .order_by(customers.c.customer_id)
        )
        return [row.customer_id for row in rows]

    async def active_merge_parents(
        self, workspace: str, merged_ids: Sequence[str]
    ) -> dict[str, str]:
        """merged customer -> the customer it was merged into, by merges not undone."""
        if not merged_ids:
            return {}
        rows = await self._connection.execute(
            select(merges.c.merged_id, merges.c.survivor_id)
            .where(
                merges.c.workspace == workspace,
                merges.c.merged_id.in_(list(merged_ids)),
                merges.c.undone_time.is_(None),
            )
            .order_by(merges.c.merge_id)
        )
        # The latest merge wins should history ever hold two.
        return {row.merged_id: row.survivor_id for row in rows}

    async def identifiers_of(self, workspace: str, customer_id: str) -> list[LinkedIdentifier]:
        rows = await self._connection.execute(
            select(
                identifiers.c.type,
                identifiers.c.value,
                identifiers.c.customer_id,
                identifiers.c.origin_customer_id,
            )
            .where(identifiers.c.workspace == workspace, identifiers.c.customer_id == customer_id)
            .order_by(identifiers.c.type, identifiers.c.value)
        )
        return [
            LinkedIdentifier(
                Identifier(row.type, row.value), row.customer_id, row.origin_customer_id
            )
            for row in rows
        ]

    async def move_identifiers(self, workspace: str, moves: dict[str, list[Identifier]]) -> None:
        """Give each customer id the identifiers listed for it."""
        for customer_id, moved in moves.items():
            for chunk in chunks(moved, 200):
                await self._connection.execute(
                    update(identifiers)
                    .where(
                        identifiers.c.workspace == workspace,
                        tuple_(identifiers.c.type, identifiers.c.value).in_(
                            [(identifier.type, identifier.value) for identifier in chunk]
                        ),
                    )
                    .values(customer_id=customer_id)
                )

    async def set_merged_into(
        self, workspace: str, customer_id: str, merged_into: str | None, now: datetime
    ) -> None:
        await self._connection.execute(
            update(customers)
            .where(customers.c.workspace == workspace, customers.c.customer_id == customer_id)
            .values(merged_into=merged_into, update_time=now)
        )

    async def undo_merges(self, workspace: str, merged_ids: Sequence[str], now: datetime) -> None:
        if not merged_ids:
            return
        await self._connection.execute(
            update(merges)
            .where(
                merges.c.workspace == workspace,
                merges.c.merged_id.in_(list(merged_ids)),
                merges.c.undone_time.is_(None),
            )
            .values(undone_time=now)
        )

    async def add_separations(
        self, workspace: str, pairs: Iterable[tuple[str, str]], reason: str, now: datetime
    ) -> None:
        """Keep each pair apart from now on (pairs already kept apart stay as they are)."""
        ordered = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
        if not ordered:
            return
        existing_rows = await self._connection.execute(
            select(separations.c.customer_a, separations.c.customer_b).where(
                separations.c.workspace == workspace,
                separations.c.customer_a.in_([a for a, _ in ordered]),
            )
        )
        existing = {(row.customer_a, row.customer_b) for row in existing_rows}
        new = sorted(ordered - existing)
        if new:
            await self._connection.execute(
                insert(separations),
                [
                    {
                        "workspace": workspace,
                        "customer_a": a,
                        "customer_b": b,
                        "reason": reason,
                        "create_time": now,
                    }
                    for a, b in new
                ],
            )

    async def erase(self, workspace: str, customer_ids: Sequence[str]) -> int:
        """Delete the customers and everything about them; the number of identifiers deleted."""
        ids = list(customer_ids)
        deleted = await self._connection.execute(
            delete(identifiers).where(
                identifiers.c.workspace == workspace, identifiers.c.customer_id.in_(ids)
            )
        )
        await self._connection.execute(
            delete(merges).where(
                merges.c.workspace == workspace,
                or_(merges.c.survivor_id.in_(ids), merges.c.merged_id.in_(ids)),
            )
        )
        await self._connection.execute(
            delete(separations).where(
                separations.c.workspace == workspace,
                or_(separations.c.customer_a.in_(ids), separations.c.customer_b.in_(ids)),
            )
        )
        await self._connection.execute(
            delete(match_reviews).where(
                match_reviews.c.workspace == workspace,
                or_(match_reviews.c.customer_a.in_(ids), match_reviews.c.customer_b.in_(ids)),
            )
        )
        await self._connection.execute(
            delete(customers).where(
                customers.c.workspace == workspace, customers.c.customer_id.in_(ids)
            )
        )
        # The match model's term-frequency tables count attribute values, the
        # erased person's included: drop it; it is retrained on the data left.
        await self._connection.execute(
            delete(match_models).where(match_models.c.workspace == workspace)
        )
        return int(deleted.rowcount or 0)

    async def block(
        self, workspace: str, digests: Iterable[tuple[str, str]], reason: str, now: datetime
    ) -> None:
        """Block (type, digest) pairs; pairs already blocked stay as they are."""
        wanted = set(digests)
        if not wanted:
            return
        existing_rows = await self._connection.execute(
            select(blocked_identifiers.c.type, blocked_identifiers.c.value_digest).where(
                blocked_identifiers.c.workspace == workspace,
                blocked_identifiers.c.value_digest.in_([digest for _, digest in wanted]),
            )
        )
        existing = {(row.type, row.value_digest) for row in existing_rows}
        new = sorted(wanted - existing)
        if new:
            await self._connection.execute(
                insert(blocked_identifiers),
                [
                    {
                        "workspace": workspace,
                        "type": type_,
                        "value_digest": digest,
                        "reason": reason,
                        "create_time": now,
                    }
                    for type_, digest in new
                ],
            )

    async def touch(self, workspace: str, customer_id: str, now: datetime) -> None:
        await self._connection.execute(
            update(customers)
            .where(customers.c.workspace == workspace, customers.c.customer_id == customer_id)
            .values(update_time=now)
        )

    async def customer_views(self, workspace: str, customer_ids: Sequence[str]) -> list[Customer]:
        """Customers as clients see them, in the order given (missing ones left out)."""
        ids = list(customer_ids)
        if not ids:
            return []
        rows = await self._connection.execute(
            select(
                customers.c.customer_id,
                customers.c.create_time,
                customers.c.update_time,
                customers.c.attributes,
            ).where(customers.c.workspace == workspace, customers.c.customer_id.in_(ids))
        )
        found = {row.customer_id: row for row in rows}
        linked: dict[str, list[Identifier]] = {customer_id: [] for customer_id in ids}
        for row in await self._connection.execute(
            select(identifiers.c.customer_id, identifiers.c.type, identifiers.c.value)
            .where(identifiers.c.workspace == workspace, identifiers.c.customer_id.in_(ids))
            .order_by(identifiers.c.link_time, identifiers.c.type, identifiers.c.value)
        ):
            linked[row.customer_id].append(Identifier(row.type, row.value))
        merged: dict[str, list[str]] = {customer_id: [] for customer_id in ids}
        for row in await self._connection.execute(
            select(customers.c.customer_id, customers.c.merged_into)
            .where(customers.c.workspace == workspace, customers.c.merged_into.in_(ids))
            .order_by(customers.c.create_time, customers.c.customer_id)
        ):
            merged[row.merged_into].append(row.customer_id)
        return [
            Customer(
                workspace=workspace,
                id=customer_id,
                create_time=as_utc(found[customer_id].create_time),
                update_time=as_utc(found[customer_id].update_time),
                identifiers=tuple(linked[customer_id]),
                merged_customer_ids=tuple(merged[customer_id]),
                attributes=dict(found[customer_id].attributes or {}),
            )
            for customer_id in ids
            if customer_id in found
        ]

    # --- change log ---------------------------------------------------------------

    async def append_changes(
        self, workspace: str, changes: Sequence[IdentityChange], now: datetime
    ) -> None:
        """Append to the log; call last in the unit of work (takes the log lock)."""
        if not changes:
            return
        await lock_change_log(self._connection)
        await self._connection.execute(
            insert(identity_changes),
            [
                {
                    "workspace": workspace,
                    "kind": str(change.kind),
                    "customer_id": change.customer_id,
                    "other_customer_id": change.other_customer_id,
                    "change_time": now,
                }
                for change in changes
            ],
        )

    async def last_change_seq(self) -> int:
        value = (await self._connection.execute(select(func.max(identity_changes.c.seq)))).scalar()
        return int(value or 0)

    async def changes_after(self, workspace: str, after: int, limit: int) -> list[ChangeRow]:
        rows = await self._connection.execute(
            select(identity_changes)
            .where(identity_changes.c.workspace == workspace, identity_changes.c.seq > after)
            .order_by(identity_changes.c.seq)
            .limit(limit)
        )
        return [_change(row) for row in rows]
