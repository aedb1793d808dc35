"""Group commit of decision records: concurrent Decide calls share one transaction.

A caller hands its decision (and the contacts it counts) to the writer and waits until
the transaction holding it has committed, so an answered Decide is always stored:
nothing acknowledged is lost. Decisions arriving while a transaction is being written
go into the next one, so batches grow with the load and a lone call waits for no
timer. If a batch fails, its decisions are written one by one, so that one record
cannot fail the others; each caller then gets its own outcome. A decision for a
customer erased meanwhile is refused by its insert (adapters/erased_customers.py): its
caller gets NOT_FOUND, as Decide answers for an erased customer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapport.decisioning.domain.contact_policy import Contact
from rapport.decisioning.domain.model import Decision
from rapport.sqlstore import run_with_retries

from .erasure_guard import refusal
from .unit_of_work import DecisioningUnitOfWork

MAX_BATCH = 200


@dataclass
class _Pending:
    decision: Decision
    contacts: Sequence[Contact]
    done: asyncio.Future[None]


class DecisionWriter:
    def __init__(self, uow: Callable[..., DecisioningUnitOfWork]) -> None:
        self._uow = uow
        self._queue: list[_Pending] = []
        self._writing: asyncio.Task[None] | None = None

    async def write(self, decision: Decision, contacts: Sequence[Contact]) -> None:
        """Store the decision and its contacts; returns once committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(decision, contacts, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._drain())
        # Shielded: a caller giving up (deadline) must not cancel the others' commit.
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._commit(batch)
            except Exception:  # the batch as a whole failed: one by one
                for item in batch:
                    try:
                        await self._commit([item])
                    except Exception as err:
                        # Refused when the customer was erased after Decide read the
                        # profile: answered as Decide answers for an erased customer.
                        decision = item.decision
                        _settle(
                            item,
                            await refusal(self._uow, decision.workspace, decision.customer, err),
                        )
                    else:
                        _settle(item, None)
            else:
                for item in batch:
                    _settle(item, None)

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        """One transaction for the batch, redone on a transient conflict."""

        async def work(uow: DecisioningUnitOfWork) -> None:
            # One statement per table for the whole batch.
            await uow.contacts.add_many(
                [(i.decision.workspace, i.decision.customer, i.contacts) for i in batch]
            )
            await uow.decisions.add_many([item.decision for item in batch])

        await run_with_retries(self._uow, work, description="storing decisions kept conflicting")


def _settle(item: _Pending, err: Exception | None) -> None:
    if item.done.done():
        return
    if err is None:
        item.done.set_result(None)
    else:
        item.done.set_exception(err)
