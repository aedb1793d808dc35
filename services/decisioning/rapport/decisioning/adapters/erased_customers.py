"""Tombstones of erased customers, and the guard that keeps their data from coming back.

EraseCustomerDecisions records the customer here in its own transaction, under the
customer's lock. A write of per-customer data that read what it writes before the
erasure (a Decide that fetched the profile, a trigger that fired) then refuses the
customer inside its own transaction:

- on SQLite writers are serialised (SqlUnitOfWork: one writer, BEGIN IMMEDIATE), so
  the check in the writing transaction sees a committed erasure, or the erasure runs
  after that commit and deletes what it wrote;
- on PostgreSQL (READ COMMITTED) a check alone is not enough: the erasure's DELETE
  does not see a row inserted but not yet committed, and would commit past it. So the
  writer first takes the customer's lock in shared mode (`share_customers`; the
  erasure takes it exclusively, first thing): it waits for an erasure holding it, or
  the erasure waits for its commit and deletes what it wrote. The check must be a
  later statement than the lock: a statement reads the database as it was when the
  statement began, so one that waited for the lock inside itself would not see the
  tombstone committed meanwhile. Shared, so that concurrent Decides (and batches of
  the group commit) of one customer still run side by side; only the erasure and what
  takes the lock exclusively (contact limits, outcomes) queue against them.

Tombstones are kept: customer ids are never reused (identity names a new customer with
a fresh random id, and an erased id never comes back), so a tombstone never refuses a
later, different customer. They hold no personal data beyond the id the erasure named.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

import sqlalchemy as sa
from rapport.sqlstore import advisory_key, advisory_xact_locks, in_chunks, insert_if_absent
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables

_RECORD = insert_if_absent(tables.erased_customers, "workspace", "customer")
# The bind parameters `unless_erased` reads: each row written with it carries them.
GUARD_WORKSPACE, GUARD_CUSTOMER = "guard_workspace", "guard_customer"


def customer_lock_key(workspace: str, customer: str) -> int:
    """The advisory key of a customer's lock (contact limits, outcomes, erasure)."""
    return advisory_key("decisioning.contacts", workspace, customer)


async def share_customers(
    connection: AsyncConnection, customers: Iterable[tuple[str, str]]
) -> None:
    """Hold the (workspace, customer) locks in shared mode until the transaction ends
    (PostgreSQL; a no-op on SQLite), in the one global key order: one statement."""
    keys = [customer_lock_key(workspace, customer) for workspace, customer in customers]
    await advisory_xact_locks(connection, keys, shared=True)


def unless_erased() -> sa.ScalarSelect[str]:
    """The customer column's value for an INSERT that must refuse an erased customer:
    the row's `guard_customer`, or NULL when (`guard_workspace`, `guard_customer`) is
    tombstoned, which the column's NOT NULL turns into an IntegrityError (the statement
    fails and its transaction rolls back). Checked by the insert itself: no statement
    more, and with executemany no round trip more."""
    t = tables.erased_customers
    customer = sa.bindparam(GUARD_CUSTOMER, type_=sa.String)
    tombstone = sa.exists().where(
        t.c.workspace == sa.bindparam(GUARD_WORKSPACE, type_=sa.String),
        t.c.customer == customer,
    )
    return sa.select(customer).where(~tombstone).scalar_subquery()


def guard_values(workspace: str, customer: str) -> dict[str, str]:
    """The parameters `unless_erased` reads, for one row."""
    return {GUARD_WORKSPACE: workspace, GUARD_CUSTOMER: customer}


class ErasedCustomerRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def record(self, workspace: str, customer: str, erase_time: datetime) -> None:
        """Tombstone the customer (an erasure run again keeps the first time)."""
        await self._conn.execute(
            _RECORD[self._conn.dialect.name].values(
                workspace=workspace, customer=customer, erase_time=erase_time
            )
        )

    async def among(self, customers: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (workspace, customer) pairs were erased."""
        t = tables.erased_customers
        found: set[tuple[str, str]] = set()
        for chunk in in_chunks(sorted(set(customers))):
            rows = await self._conn.execute(
                sa.select(t.c.workspace, t.c.customer).where(
                    sa.tuple_(t.c.workspace, t.c.customer).in_(chunk)
                )
            )
            found.update((row.workspace, row.customer) for row in rows)
        return found

    async def erased(self, workspace: str, customer: str) -> bool:
        """Whether the customer was erased; to guard a write, ask it under the customer's
        lock (as `erased_under_lock` does)."""
        return bool(await self.among([(workspace, customer)]))

    async def among_under_lock(
        self, customers: Collection[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Take the customers' locks in shared mode, then tell which were erased (as
        `erased_under_lock`, for several customers in two statements)."""
        await share_customers(self._conn, customers)
        return await self.among(customers)

    async def erased_under_lock(self, workspace: str, customer: str) -> bool:
        """Take the customer's lock in shared mode, then tell whether they were erased:
        what this transaction writes about them after a False cannot outlive an erasure."""
        await share_customers(self._conn, [(workspace, customer)])
        return await self.erased(workspace, customer)
