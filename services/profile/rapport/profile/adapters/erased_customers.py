"""Tombstones of the customers profile erased (identity's erasure, EraseProfile, the
inactivity sweep), written in the erasure's transaction and read by every ingest under
its customers' locks: an ingest that resolved its events before an erasure must not
write them to the erased customer (service_layer/ingestion.py). Identity never hands
out a customer id twice: a tombstone goes only when identity names its customer live
after it (an erasure of profile's own, identity still holding the customer)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from rapport.sqlstore import as_utc
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import upsert
from .tables import erased_customers

# Read by every batch: built once.
_ERASED_AMONG = select(erased_customers.c.customer_id, erased_customers.c.erased_time).where(
    erased_customers.c.workspace == bindparam("workspace"),
    erased_customers.c.customer_id.in_(bindparam("customers", expanding=True)),
)


class ErasedCustomers:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def record(self, workspace: str, customer_ids: Collection[str], now: datetime) -> None:
        """Erased at ``now`` (an erasure again moves the time: a new tombstone)."""
        await upsert(
            self._conn,
            erased_customers,
            [
                {"workspace": workspace, "customer_id": c, "erased_time": as_utc(now)}
                for c in sorted(customer_ids)
            ],
            ("workspace", "customer_id"),
        )

    async def among(self, workspace: str, customer_ids: Collection[str]) -> dict[str, datetime]:
        """customer -> when it was erased, for those of the customers profile erased."""
        if not customer_ids:
            return {}
        rows = await self._conn.execute(
            _ERASED_AMONG, {"workspace": workspace, "customers": sorted(customer_ids)}
        )
        return {customer: as_utc(erased) for customer, erased in rows}

    async def forget(self, workspace: str, customer_ids: Collection[str]) -> None:
        if customer_ids:
            await self._conn.execute(
                delete(erased_customers).where(
                    erased_customers.c.workspace == workspace,
                    erased_customers.c.customer_id.in_(sorted(customer_ids)),
                )
            )
