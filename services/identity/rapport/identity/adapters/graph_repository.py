"""Bulk loading of the part of the graph a unit of work touches, and bulk writing of its journal.

A batch of observations costs a handful of statements whatever its size:
lookups by (type, value) in chunks, the customers found and their
identifiers, their merged customers and separations, then executemany writes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from rapport.identity.domain.model import Identifier
from rapport.identity.domain.resolution import CustomerState, IdentityGraph, Journal
from rapport.identity.domain.rules import IdentityRules, erased_digest
from rapport.sqlstore import as_utc, in_chunks
from sqlalchemy import (
    DateTime,
    Select,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from .lifecycle_repository import lock_change_log
from .tables import (
    blocked_identifiers,
    customers,
    identifiers,
    identity_changes,
    merges,
    separations,
)


class StaleGraph(Exception):
    """A customer found was merged by a transaction that committed meanwhile."""


class GraphRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"

    def _owners_query(self, workspace: str, type_: str, values: Sequence[str]) -> Select[Any]:
        """Customers of the identifiers ``(type_, v)`` for v in values; values in ONE parameter.

        PostgreSQL: joined to unnest(array), which stays an index lookup per value
        even before the table has statistics (``= ANY(array)`` then filters every
        identifier of the type). SQLite: ``IN (SELECT value FROM json_each(?))``,
        which its planner turns into index lookups (a join would scan identifiers).
        """
        if self._postgres:
            array = bindparam(None, list(values), type_=ARRAY(String))
            wanted = func.unnest(array).table_valued("value").render_derived(name="wanted")
            return (
                select(identifiers.c.customer_id)
                .select_from(wanted)
                .join(identifiers, identifiers.c.value == wanted.c.value)
                .where(identifiers.c.workspace == workspace, identifiers.c.type == type_)
            )
        as_json = bindparam(None, json.dumps(list(values)), type_=String)
        wanted = func.json_each(as_json).table_valued("value")
        return select(identifiers.c.customer_id).where(
            identifiers.c.workspace == workspace,
            identifiers.c.type == type_,
            identifiers.c.value.in_(select(wanted.c.value)),
        )

    # --- loading ----------------------------------------------------------

    async def load_for_identifiers(
        self, workspace: str, observed: Iterable[Identifier], rules: IdentityRules
    ) -> IdentityGraph:
        """The customers the observed identifiers belong to, locked (PostgreSQL) and complete.

        Raises StaleGraph when one of them is no longer live (merged after our
        snapshot): the caller redoes the unit of work.
        """
        wanted = sorted(set(observed))
        by_type: dict[str, list[str]] = {}
        for identifier in wanted:
            by_type.setdefault(identifier.type, []).append(identifier.value)
        owners: set[str] = set()
        # One statement per type, the values as ONE array parameter joined to the
        # (workspace, type, value) index: no IN list to render per call, and a plan
        # that stays an index lookup per value even before the table has statistics.
        for type_, values in by_type.items():
            rows = await self._connection.execute(self._owners_query(workspace, type_, values))
            owners.update(row.customer_id for row in rows)
        graph_customers = await self._load_customers(workspace, sorted(owners), lock=True)
        if any(customer.merged_into is not None for customer in graph_customers):
            raise StaleGraph()
        return await self._graph(workspace, graph_customers, rules, wanted)

    async def load_customers_graph(
        self, workspace: str, customer_ids: Sequence[str], rules: IdentityRules
    ) -> IdentityGraph:
        """The given customers (live or merged) and the live customers they now live in."""
        found = await self._load_customers(workspace, sorted(set(customer_ids)), lock=True)
        targets = sorted(
            {c.merged_into for c in found if c.merged_into is not None} - {c.id for c in found}
        )
        found += await self._load_customers(workspace, targets, lock=True)
        if any(c.merged_into is not None for c in found if c.id in targets):
            raise StaleGraph()
        return await self._graph(workspace, found, rules, [])

    async def _load_customers(
        self, workspace: str, ids: Sequence[str], *, lock: bool
    ) -> list[CustomerState]:
        loaded: list[CustomerState] = []
        for chunk in in_chunks(ids):
            statement = (
                select(
                    customers.c.customer_id,
                    customers.c.create_time,
                    customers.c.update_time,
                    customers.c.merged_into,
                    customers.c.attributes,
                    customers.c.attributes_time,
                )
                .where(customers.c.workspace == workspace, customers.c.customer_id.in_(chunk))
                .order_by(customers.c.customer_id)
            )
            if lock and self._postgres:
                # In id order, so overlapping units lock customers in one global order.
                statement = statement.with_for_update()
            for row in await self._connection.execute(statement):
                loaded.append(
                    CustomerState(
                        id=row.customer_id,
                        create_time=as_utc(row.create_time),
                        update_time=as_utc(row.update_time),
                        merged_into=row.merged_into,
                        attributes=dict(row.attributes or {}),
                        attributes_time=(
                            None if row.attributes_time is None else as_utc(row.attributes_time)
                        ),
                    )
                )
        return loaded

    async def _graph(
        self,
        workspace: str,
        loaded: list[CustomerState],
        rules: IdentityRules,
        observed: Sequence[Identifier],
    ) -> IdentityGraph:
        by_id = {customer.id: customer for customer in loaded}
        live_ids = sorted(c.id for c in loaded if c.merged_into is None)
        for chunk in in_chunks(live_ids):
            rows = await self._connection.execute(
                select(
                    identifiers.c.customer_id,
                    identifiers.c.type,
                    identifiers.c.value,
                    identifiers.c.link_time,
                ).where(identifiers.c.workspace == workspace, identifiers.c.customer_id.in_(chunk))
            )
            for row in rows:
                by_id[row.customer_id].identifiers[Identifier(row.type, row.value)] = as_utc(
                    row.link_time
                )
            merged_rows = await self._connection.execute(
                select(
                    customers.c.customer_id, customers.c.merged_into, customers.c.create_time
                ).where(customers.c.workspace == workspace, customers.c.merged_into.in_(chunk))
            )
            for row in merged_rows:
                by_id[row.merged_into].merged.append((as_utc(row.create_time), row.customer_id))
        separated = await self._separations(
            workspace, sorted({m for c in loaded if c.merged_into is None for m in c.members()})
        )
        erased = await self._erased_digests(workspace, observed, rules)
        return IdentityGraph(
            rules, loaded, workspace=workspace, separations=separated, erased_digests=erased
        )

    async def _separations(self, workspace: str, members: Sequence[str]) -> list[tuple[str, str]]:
        if len(members) < 2:
            return []
        pairs: set[tuple[str, str]] = set()
        for chunk in in_chunks(members):
            rows = await self._connection.execute(
                select(separations.c.customer_a, separations.c.customer_b).where(
                    separations.c.workspace == workspace,
                    or_(separations.c.customer_a.in_(chunk), separations.c.customer_b.in_(chunk)),
                )
            )
            pairs.update((row.customer_a, row.customer_b) for row in rows)
        return sorted(pairs)

    async def _erased_digests(
        self, workspace: str, observed: Sequence[Identifier], rules: IdentityRules
    ) -> set[str]:
        if not observed:
            return set()
        # Most workspaces never erase with blocking: one cheap probe saves hashing.
        anything = (
            await self._connection.execute(
                select(blocked_identifiers.c.value_digest)
                .where(blocked_identifiers.c.workspace == workspace)
                .limit(1)
            )
        ).first()
        if anything is None:
            return set()
        digests = sorted({erased_digest(identifier) for identifier in observed})
        found: set[str] = set()
        for chunk in in_chunks(digests):
            rows = await self._connection.execute(
                select(blocked_identifiers.c.value_digest).where(
                    blocked_identifiers.c.workspace == workspace,
                    blocked_identifiers.c.value_digest.in_(chunk),
                )
            )
            found.update(row.value_digest for row in rows)
        return found

    # --- writing ----------------------------------------------------------

    async def _insert_many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """executemany INSERT of rows sharing the same keys.

        On SQLite the rows go straight to the driver with the columns' own bind
        processors, memoised per value: SQLAlchemy's per-row parameter handling
        costs more than SQLite's insert itself for a 1,000-observation batch (the
        rows and stored formats are the same as through ``insert(table)``).
        """
        if not rows:
            return
        if self._postgres:
            await self._connection.execute(insert(table), rows)
            return
        names = list(rows[0])
        dialect = self._connection.dialect
        # Column by column, then zipped into rows: a few comprehensions instead of
        # a generator per row.
        values_by_column = []
        for name in names:
            column_type = table.c[name].type
            process = column_type.dialect_impl(dialect).bind_processor(dialect)
            values = [row[name] for row in rows]
            if process is not None:
                if isinstance(column_type, DateTime):
                    process = functools.lru_cache(maxsize=4096)(process)
                values = [None if value is None else process(value) for value in values]
            values_by_column.append(values)
        parameters = list(zip(*values_by_column, strict=True))
        columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
        marks = ", ".join("?" for _ in names)
        table_name = dialect.identifier_preparer.format_table(table)
        await self._connection.exec_driver_sql(
            f"INSERT INTO {table_name} ({columns}) VALUES ({marks})", parameters
        )

    async def write(self, graph: IdentityGraph) -> None:
        """Write everything the graph's journal recorded, in a few executemany statements."""
        workspace = graph.workspace
        journal: Journal = graph.journal
        if not journal.changed and not journal.changes:
            return
        state = graph.customers
        if journal.new_customers:
            await self._insert_many(
                customers,
                [
                    {
                        "workspace": workspace,
                        "customer_id": customer_id,
                        "create_time": state[customer_id].create_time,
                        "update_time": state[customer_id].update_time,
                        "merged_into": state[customer_id].merged_into
                        and graph.live_id(customer_id),
                        "attributes": state[customer_id].attributes or None,
                        "attributes_time": state[customer_id].attributes_time,
                    }
                    for customer_id in journal.new_customers
                ],
            )
        if journal.new_links:
            await self._insert_many(
                identifiers,
                [
                    {
                        "workspace": workspace,
                        "type": link.identifier.type,
                        "value": link.identifier.value,
                        "customer_id": graph.owner_of(link.identifier),
                        "link_time": link.link_time,
                        # Merges never change it: unmerge sends identifiers back there.
                        "origin_customer_id": link.origin_customer_id,
                    }
                    for link in journal.new_links
                ],
            )
        merged_before = [c for c in journal.merged if not state[c].new]
        if merged_before:
            moves = [{"w": workspace, "old": c, "new": graph.live_id(c)} for c in merged_before]
            await self._connection.execute(
                update(identifiers)
                .where(
                    identifiers.c.workspace == bindparam("w"),
                    identifiers.c.customer_id == bindparam("old"),
                )
                .values(customer_id=bindparam("new")),
                moves,
            )
            # Customers merged earlier into the merged ones now point at the survivor
            # directly, so a lookup follows at most one hop (history stays in `merges`).
            await self._connection.execute(
                update(customers)
                .where(
                    customers.c.workspace == bindparam("w"),
                    customers.c.merged_into == bindparam("old"),
                )
                .values(merged_into=bindparam("new")),
                moves,
            )
        touched = sorted(journal.touched)
        if touched:
            await self._connection.execute(
                update(customers)
                .where(
                    and_(
                        customers.c.workspace == bindparam("w"),
                        customers.c.customer_id == bindparam("c"),
                    )
                )
                .values(
                    update_time=bindparam("u"),
                    merged_into=bindparam("m"),
                    attributes=bindparam("a"),
                    attributes_time=bindparam("at"),
                ),
                [
                    {
                        "w": workspace,
                        "c": customer_id,
                        "u": state[customer_id].update_time,
                        "m": None
                        if state[customer_id].merged_into is None
                        else graph.live_id(customer_id),
                        "a": state[customer_id].attributes or None,
                        "at": state[customer_id].attributes_time,
                    }
                    for customer_id in touched
                ],
            )
        if journal.merges:
            await self._insert_many(
                merges,
                [
                    {
                        "workspace": workspace,
                        "survivor_id": record.survivor_id,
                        "merged_id": record.merged_id,
                        "identifiers": [[i.type, i.value] for i in record.identifiers],
                        "source": record.source,
                        "observe_time": record.observe_time,
                        "merge_time": record.merge_time,
                    }
                    for record in journal.merges
                ],
            )
        if journal.changes:
            # Last statement of the unit: seq order = commit order for WatchChanges.
            await lock_change_log(self._connection)
            await self._insert_many(
                identity_changes,
                [
                    {
                        "workspace": workspace,
                        "kind": str(change.kind),
                        "customer_id": change.customer_id,
                        "other_customer_id": change.other_customer_id,
                        "change_time": when,
                    }
                    for change, when in journal.changes
                ],
            )
