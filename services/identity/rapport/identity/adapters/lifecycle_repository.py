"""Storage for unmerge, erasure and the change log (SQLAlchemy Core, SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.identity.domain.model import Identifier, IdentityChange
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc, in_chunks
from sqlalchemy import Row, String, delete, func, insert, or_, select, tuple_, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .matching_repository import erasure_lock_key
from .repository import LOCK_NAMESPACE
from .tables import (
    add_pairs,
    blocked_identifiers,
    customers,
    identifiers,
    identity_changes,
    match_models,
    match_reviews,
    merges,
    separations,
)

CHANGE_LOG_LOCK_KEY = advisory_key(LOCK_NAMESPACE, "change-log")


async def lock_change_log(connection: AsyncConnection) -> None:
    """Make identity_changes seq order equal commit order (PostgreSQL; SQLite serialises writers).

    Taken right before appending to the log and held until commit: a reader that
    has seen seq N can never later find a committed seq below N, so WatchChanges
    cursors never skip a change. Take it as the LAST lock of the transaction.
    """
    await advisory_xact_locks(connection, [CHANGE_LOG_LOCK_KEY])


@dataclass(frozen=True)
class LinkedIdentifier:
    identifier: Identifier
    customer_id: str
    origin_customer_id: str | None


@dataclass(frozen=True)
class ChangeRow:
    """An entry of the change log as stored; decoded (kinds checked) by WatchChanges."""

    seq: int
    kind: str
    customer_id: str
    other_customer_id: str | None
    change_time: datetime | None  # None: the stored value is not a time


def _stored_time(value: object) -> datetime | None:
    # PostgreSQL's driver hands back datetimes; SQLite the text it holds, which a
    # hand-written or damaged row may have made anything.
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _change(row: Row[Any]) -> ChangeRow:
    return ChangeRow(
        seq=int(row.seq),
        kind=row.kind,
        customer_id=row.customer_id,
        other_customer_id=row.other_customer_id,
        change_time=_stored_time(row.change_time),
    )


# Read as stored, not through DateTime's converter: one unreadable time must not
# stop the whole read (and with it every WatchChanges stream of the workspace).
_CHANGE_COLUMNS = (
    identity_changes.c.seq,
    identity_changes.c.kind,
    identity_changes.c.customer_id,
    identity_changes.c.other_customer_id,
    type_coerce(identity_changes.c.change_time, String).label("change_time"),
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
            for chunk in in_chunks(moved, 200):
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

    async def erase(self, workspace: str, customer_ids: Sequence[str]) -> int:
        """Delete the customers and everything about them; the number of identifiers deleted.

        Under the workspace's erasure lock: a match model or match reviews derived from
        records read before this erasure are either stored first (and deleted here) or
        stored after it, by callers that then find the customers gone (MatchModels.train,
        the deduplication job's reviews)."""
        await advisory_xact_locks(self._connection, [erasure_lock_key(workspace)])
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
        await add_pairs(
            self._connection,
            blocked_identifiers,
            ("type", "value_digest"),
            workspace,
            set(digests),
            reason=reason,
            now=now,
        )

    async def touch(self, workspace: str, customer_id: str, now: datetime) -> None:
        await self._connection.execute(
            update(customers)
            .where(customers.c.workspace == workspace, customers.c.customer_id == customer_id)
            .values(update_time=now)
        )

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
            select(*_CHANGE_COLUMNS)
            .where(identity_changes.c.workspace == workspace, identity_changes.c.seq > after)
            .order_by(identity_changes.c.seq)
            .limit(limit)
        )
        return [_change(row) for row in rows]
