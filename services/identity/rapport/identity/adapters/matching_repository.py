"""Storage of probabilistic matching: the records matched, match models, separations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rapport.sqlstore import as_utc
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import chunks, customers, match_models, separations


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
        for chunk in chunks(customer_ids):
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
        self, workspace: str, pairs: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Those of the (ordered) pairs that must be kept apart."""
        found: set[tuple[str, str]] = set()
        for chunk in chunks(list(pairs)):
            rows = (
                await self._connection.execute(
                    select(separations.c.customer_a, separations.c.customer_b).where(
                        separations.c.workspace == workspace,
                        tuple_(separations.c.customer_a, separations.c.customer_b).in_(chunk),
                    )
                )
            ).all()
            found.update((row.customer_a, row.customer_b) for row in rows)
        return found

    async def add_separation(
        self, workspace: str, pair: tuple[str, str], reason: str, now: datetime
    ) -> None:
        """Keep the ordered pair apart from now on (no-op if it already is)."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    insert(separations).values(
                        workspace=workspace,
                        customer_a=pair[0],
                        customer_b=pair[1],
                        reason=reason,
                        create_time=now,
                    )
                )
        except IntegrityError:
            pass

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

    async def save_model(
        self, workspace: str, parameters: dict[str, Any], record_count: int, now: datetime
    ) -> None:
        values = {"parameters": parameters, "record_count": record_count, "train_time": now}
        updated = await self._connection.execute(
            update(match_models).where(match_models.c.workspace == workspace).values(**values)
        )
        if updated.rowcount:
            return
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    insert(match_models).values(workspace=workspace, **values)
                )
        except IntegrityError:  # trained concurrently: the latest write wins
            await self._connection.execute(
                update(match_models).where(match_models.c.workspace == workspace).values(**values)
            )
