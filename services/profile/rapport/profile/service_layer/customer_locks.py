"""Reads of rows that name their customers, made stable by those customers' locks.

A job that picks its rows first (a backfill chunk, expired events) learns which
customers to lock only from them. A merge or unmerge that commits between the read and
the locks (PostgreSQL; SQLite serialises writers) has moved some rows to another
customer, whose lock the job does not hold: the rows are read again once their
customers are locked, until every customer they name is held.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from .unit_of_work import ProfileUnitOfWork

Rows = TypeVar("Rows")


async def read_with_customers_locked(
    uow: ProfileUnitOfWork,
    workspace: str,
    read: Callable[[], Awaitable[Rows]],
    customers_of: Callable[[Rows], Iterable[str]],
) -> Rows:
    """``read()``'s answer, read with every customer it names locked (until commit)."""
    held: set[str] = set()
    while True:
        rows = await read()
        customers = set(customers_of(rows)) - held
        if not customers:
            return rows
        await uow.profiles.lock_customers(workspace, customers)
        held |= customers


async def locked_survivor(uow: ProfileUnitOfWork, workspace: str, customer_id: str) -> str:
    """The customer ``customer_id`` was merged into (or itself), locked, as it is once
    locked: a merge that commits after a first read moved its data to another survivor."""
    return await read_with_customers_locked(
        uow,
        workspace,
        functools.partial(uow.profiles.survivor_of, workspace, customer_id),
        lambda survivor: (survivor,),
    )


async def erased_meanwhile(
    uow: ProfileUnitOfWork,
    workspace: str,
    customer_ids: Collection[str],
    revived: Mapping[str, datetime],
) -> dict[str, datetime]:
    """Those of the customers (locked by the caller) that profile erased (customer -> when),
    in one statement: a batch resolved to them before the erasure committed.

    ``revived``: customers identity named again after their erasure seen then (its
    time): identity holds them still (an erasure of profile's own), and their tombstone
    goes once nothing else of the batch is erased (the batch writes then)."""
    found = await uow.erasures.among(workspace, customer_ids)
    erased = {c: when for c, when in found.items() if revived.get(c) != when}
    if found and not erased:
        await uow.erasures.forget(workspace, list(found))
    return erased
