"""How the outbox relay's sends and a customer's erasure keep out of each other's way.

An erasure that returned must never be followed by a send of that customer's profile
event, and a send under way when the erasure comes is waited for. How that is held
depends on the database:

- PostgreSQL (replicas share it): the relay sends under its items' row locks (FOR
  UPDATE, id order), taken in the transaction that then records the outcome; the
  erasure locks the items it deletes in the same order (StatusRepository.erase_customer).
- SQLite (one process owns the file): a transaction that writes holds the database's
  only write lock, so one held across a network call (up to its deadline when profile
  hangs) would stall every write of the service. An in-process lock instead: the relay
  holds it over reading which items are still there, the send and recording the
  outcome (each a short unit of work of its own); the erasure over its unit of work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

from rapport.sqlstore import is_sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from .status_repository import StatusRepository


class OutboxUnit(Protocol):
    """What of the service's unit of work the locks use."""

    status: StatusRepository

    async def commit(self) -> None: ...


Unit = TypeVar("Unit", bound=OutboxUnit)
# uow_factory(readonly=...) -> a unit of work, entered with `async with`.
UnitFactory = Callable[..., AbstractAsyncContextManager[Unit]]


class OutboxSending(Protocol[Unit]):
    """One relay round's items, held against erasures until the `sending` block ends."""

    # The items still in the outbox: those an erasure did not delete first.
    present: frozenset[str]

    def recording(self) -> AbstractAsyncContextManager[Unit]:
        """The unit of work to record the outcome in (the caller commits it)."""
        ...


class OutboxLocks(Protocol):
    def sending(
        self, uow_factory: UnitFactory[Unit], item_ids: Sequence[str]
    ) -> AbstractAsyncContextManager[OutboxSending[Unit]]:
        """Held over the send of `item_ids` and the recording of its outcome."""
        ...

    def erasing(self) -> AbstractAsyncContextManager[None]:
        """Held by an erasure around its unit of work."""
        ...


class _HeldUnit:
    def __init__(self, present: set[str], uow: Any) -> None:
        self.present = frozenset(present)
        self._uow = uow

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[Any]:
        # The unit of work holding the row locks: the outcome is committed with them.
        yield self._uow


class RowLockedOutbox:
    """PostgreSQL: the items' row locks, held by one transaction over the send."""

    @asynccontextmanager
    async def sending(
        self, uow_factory: UnitFactory[Unit], item_ids: Sequence[str]
    ) -> AsyncIterator[OutboxSending[Unit]]:
        async with uow_factory() as uow:
            present = await uow.status.present_in_outbox(item_ids, lock=True)
            yield _HeldUnit(present, uow)

    @asynccontextmanager
    async def erasing(self) -> AsyncIterator[None]:
        # The erasure's own row locks (erase_customer) are what waits for a send.
        yield


class _FreshUnit:
    def __init__(self, present: set[str], uow_factory: UnitFactory[Any]) -> None:
        self.present = frozenset(present)
        self._uow_factory = uow_factory

    def recording(self) -> AbstractAsyncContextManager[Any]:
        return self._uow_factory()


class ProcessLockedOutbox:
    """SQLite: one lock in this process, shared by relay sends and erasures; no unit of
    work (no write lock) is open during the send."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def sending(
        self, uow_factory: UnitFactory[Unit], item_ids: Sequence[str]
    ) -> AsyncIterator[OutboxSending[Unit]]:
        async with self._lock:
            async with uow_factory(readonly=True) as uow:
                present = await uow.status.present_in_outbox(item_ids, lock=False)
            yield _FreshUnit(present, uow_factory)

    @asynccontextmanager
    async def erasing(self) -> AsyncIterator[None]:
        async with self._lock:
            yield


def outbox_locks_for(engine: AsyncEngine) -> OutboxLocks:
    """The locks `engine`'s database needs (see the module doc)."""
    return ProcessLockedOutbox() if is_sqlite(engine) else RowLockedOutbox()
