"""Customers as clients read them, and the identifier locks every graph writer takes.

SQLAlchemy Core, SQLite or PostgreSQL with the same code; the graph itself is loaded
and written in bulk by graph_repository.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rapport.identity.domain.model import Customer, CustomerRecord, Identifier
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import Row, and_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import customers, identifiers

# Namespace of the identity service's advisory lock keys (rapport.sqlstore.advisory_key).
LOCK_NAMESPACE = "rapport.identity"


def identifier_lock_key(workspace: str, identifier: Identifier) -> int:
    """The advisory lock key of an identifier (same in every replica and release)."""
    return advisory_key(LOCK_NAMESPACE, workspace, identifier.type, identifier.value)


def _record(row: Row[Any]) -> CustomerRecord:
    return CustomerRecord(
        id=row.customer_id,
        create_time=as_utc(row.create_time),
        update_time=as_utc(row.update_time),
        merged_into=row.merged_into,
        attributes=dict(row.attributes or {}),
    )


_CUSTOMER_COLUMNS = (
    customers.c.customer_id,
    customers.c.create_time,
    customers.c.update_time,
    customers.c.merged_into,
    customers.c.attributes,
)


class IdentityRepository:
    """Customers of every workspace as clients see them, read on one connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"

    async def lock_identifiers(self, workspace: str, observed: Iterable[Identifier]) -> None:
        """Serialise transactions touching the same identifiers, until this one ends.

        PostgreSQL only: on SQLite the unit of work already holds the single writer lock.
        """
        if self._postgres:  # no keys to hash on SQLite
            await advisory_xact_locks(
                self._connection,
                (identifier_lock_key(workspace, identifier) for identifier in observed),
            )

    async def find_links(
        self, workspace: str, observed: Sequence[Identifier]
    ) -> list[tuple[Identifier, CustomerRecord]]:
        """The known identifiers among ``observed`` and their customers' rows, in one query."""
        if not observed:
            return []
        statement = (
            select(identifiers.c.type, identifiers.c.value, *_CUSTOMER_COLUMNS)
            .join(
                customers,
                and_(
                    customers.c.workspace == identifiers.c.workspace,
                    customers.c.customer_id == identifiers.c.customer_id,
                ),
            )
            .where(
                identifiers.c.workspace == workspace,
                tuple_(identifiers.c.type, identifiers.c.value).in_(
                    [(identifier.type, identifier.value) for identifier in observed]
                ),
            )
            .order_by(customers.c.customer_id)
        )
        rows = (await self._connection.execute(statement)).all()
        return [(Identifier(row.type, row.value), _record(row)) for row in rows]

    async def get_record(self, workspace: str, customer_id: str) -> CustomerRecord | None:
        row = (
            await self._connection.execute(
                select(*_CUSTOMER_COLUMNS).where(
                    customers.c.workspace == workspace, customers.c.customer_id == customer_id
                )
            )
        ).first()
        return None if row is None else _record(row)

    async def list_live(
        self, workspace: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[CustomerRecord]:
        """Live customers oldest first, starting after the (create_time, id) key."""
        statement = select(*_CUSTOMER_COLUMNS).where(
            customers.c.workspace == workspace, customers.c.merged_into.is_(None)
        )
        if after is not None:
            after_time, after_id = after
            statement = statement.where(
                or_(
                    customers.c.create_time > after_time,
                    and_(customers.c.create_time == after_time, customers.c.customer_id > after_id),
                )
            )
        statement = statement.order_by(customers.c.create_time, customers.c.customer_id).limit(
            limit
        )
        rows = (await self._connection.execute(statement)).all()
        return [_record(row) for row in rows]

    async def customers_by_id(self, workspace: str, customer_ids: Sequence[str]) -> list[Customer]:
        """Customers as clients see them, in the order given (unknown ids left out).

        Merged customers are returned as they are (their own row), not their survivor.
        """
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return []
        rows = await self._connection.execute(
            select(*_CUSTOMER_COLUMNS).where(
                customers.c.workspace == workspace, customers.c.customer_id.in_(ids)
            )
        )
        found = {row.customer_id: _record(row) for row in rows}
        return await self.load_customers(workspace, [found[i] for i in ids if i in found])

    async def load_customers(
        self, workspace: str, records: Sequence[CustomerRecord]
    ) -> list[Customer]:
        """Customers with their identifiers and merged customers, in two queries."""
        if not records:
            return []
        ids = [record.id for record in records]
        identifier_rows = (
            await self._connection.execute(
                select(identifiers.c.customer_id, identifiers.c.type, identifiers.c.value)
                .where(identifiers.c.workspace == workspace, identifiers.c.customer_id.in_(ids))
                .order_by(identifiers.c.link_time, identifiers.c.type, identifiers.c.value)
            )
        ).all()
        merged_rows = (
            await self._connection.execute(
                select(customers.c.customer_id, customers.c.merged_into)
                .where(customers.c.workspace == workspace, customers.c.merged_into.in_(ids))
                .order_by(customers.c.create_time, customers.c.customer_id)
            )
        ).all()
        linked: dict[str, list[Identifier]] = {customer_id: [] for customer_id in ids}
        for row in identifier_rows:
            linked[row.customer_id].append(Identifier(row.type, row.value))
        merged: dict[str, list[str]] = {customer_id: [] for customer_id in ids}
        for row in merged_rows:
            merged[row.merged_into].append(row.customer_id)
        return [
            Customer(
                workspace=workspace,
                id=record.id,
                create_time=record.create_time,
                update_time=record.update_time,
                identifiers=tuple(linked[record.id]),
                merged_customer_ids=tuple(merged[record.id]),
                attributes=record.attributes,
            )
            for record in records
        ]
