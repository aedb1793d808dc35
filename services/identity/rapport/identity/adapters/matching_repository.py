"""Storage of probabilistic matching: the records matched, match models, separations."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from rapport.identity.domain.deduplication import ordered_pair
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc, in_chunks
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .repository import LOCK_NAMESPACE
from .tables import (
    add_pairs,
    customers,
    match_models,
    put_row,
    separations,
    stored_pairs,
)

_PAIR = ("customer_a", "customer_b")


def erasure_lock_key(workspace: str) -> int:
    """The advisory lock key serialising a workspace's erasures with the storing of what
    is derived from records read earlier: a match model, match reviews (PostgreSQL;
    SQLite serialises writers)."""
    return advisory_key(f"{LOCK_NAMESPACE}.erasures", workspace)


class MatchingRepository:
    """Matching state of every workspace, read and written on one connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    # --- records ---------------------------------------------------

    async def records_with_attributes(self, workspace: str) -> list[tuple[str, dict[str, Any]]]:
        """(customer id, attributes) of the live customers having attributes, by id."""
        rows = (
            await self._connection.execute(
                select(customers.c.customer_id, customers.c.attributes)
                .where(
                    customers.c.workspace == workspace,
                    customers.c.merged_into.is_(None),
                    customers.c.attributes.is_not(None),
                )
                .order_by(customers.c.customer_id)
            )
        ).all()
        return [(row.customer_id, row.attributes) for row in rows if row.attributes]

    async def customer_attributes(
        self, workspace: str, customer_id: str
    ) -> tuple[bool, str | None, dict[str, Any] | None]:
        """(exists, merged_into, attributes) of one customer."""
        row = (
            await self._connection.execute(
                select(customers.c.merged_into, customers.c.attributes).where(
                    customers.c.workspace == workspace, customers.c.customer_id == customer_id
                )
            )
        ).first()
        if row is None:
            return False, None, None
        return True, row.merged_into, row.attributes or None

    async def survivors(self, workspace: str, customer_ids: Iterable[str]) -> dict[str, str]:
        """Each known customer id -> the live customer it now is (itself, or its survivor)."""
        result: dict[str, str] = {}
        # Start -> the customer reached so far; merged_into names the live survivor
        # (chains are compressed), a few more hops are tolerated all the same.
        reached = {customer_id: customer_id for customer_id in set(customer_ids)}
        for _ in range(8):
            if not reached:
                break
            hops = await self._merged_into(workspace, sorted(set(reached.values())))
            following: dict[str, str] = {}
            for start, current in reached.items():
                if current not in hops:
                    continue  # unknown (or erased) customer
                target = hops[current]
                if target is None:
                    result[start] = current
                else:
                    following[start] = target
            reached = following
        return result

    async def _merged_into(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for chunk in in_chunks(customer_ids):
            rows = (
                await self._connection.execute(
                    select(customers.c.customer_id, customers.c.merged_into).where(
                        customers.c.workspace == workspace, customers.c.customer_id.in_(chunk)
                    )
                )
            ).all()
            found.update((row.customer_id, row.merged_into) for row in rows)
        return found

    # --- separations -------------------------------------------------------------

    async def separated_pairs(
        self, workspace: str, pairs: Collection[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Those of the (ordered) pairs that must be kept apart."""
        return await stored_pairs(self._connection, separations, _PAIR, workspace, pairs)

    async def add_separations(
        self, workspace: str, pairs: Iterable[tuple[str, str]], reason: str, now: datetime
    ) -> None:
        """Keep each pair apart from now on (pairs already kept apart stay as they are)."""
        ordered = {ordered_pair(a, b) for a, b in pairs if a != b}
        await add_pairs(
            self._connection, separations, _PAIR, workspace, ordered, reason=reason, now=now
        )

    # --- models --------------------------------------------------------------------

    async def model_train_time(self, workspace: str) -> datetime | None:
        value = (
            await self._connection.execute(
                select(match_models.c.train_time).where(match_models.c.workspace == workspace)
            )
        ).scalar()
        return as_utc(value)

    async def load_model(self, workspace: str) -> tuple[dict[str, Any], datetime] | None:
        row = (
            await self._connection.execute(
                select(match_models.c.parameters, match_models.c.train_time).where(
                    match_models.c.workspace == workspace
                )
            )
        ).first()
        if row is None:
            return None
        return dict(row.parameters), as_utc(row.train_time)  # type: ignore[return-value]

    async def lock_erasures(self, workspace: str) -> None:
        """Hold off the workspace's erasures until the transaction ends: customers found
        now stay until it commits, and what it stores an erasure then finds."""
        await advisory_xact_locks(self._connection, [erasure_lock_key(workspace)])

    async def all_exist(self, workspace: str, customer_ids: Collection[str]) -> bool:
        """Whether every one of the customers still exists (none was erased)."""
        wanted = sorted(set(customer_ids))
        found = 0
        for chunk in in_chunks(wanted):
            found += (
                await self._connection.execute(
                    select(func.count())
                    .select_from(customers)
                    .where(customers.c.workspace == workspace, customers.c.customer_id.in_(chunk))
                )
            ).scalar_one()
        return found == len(wanted)

    async def save_model(
        self, workspace: str, parameters: dict[str, Any], record_count: int, now: datetime
    ) -> None:
        """Store the workspace's model, replacing the one stored (the latest write wins)."""
        await put_row(
            self._connection,
            match_models,
            {"workspace": workspace},
            {"parameters": parameters, "record_count": record_count, "train_time": now},
        )
