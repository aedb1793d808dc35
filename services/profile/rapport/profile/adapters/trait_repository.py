"""Storage of traits (of customers and of groups) and of per-customer event counters."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from rapport.profile.domain.dates import value_time
from rapport.profile.domain.model import EventType, ProfileSummary, Trait, TraitSource
from rapport.sqlstore import as_utc
from sqlalchemy import Select, Table, bindparam, case, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import can_insert, dialect_insert, insert_rows, upsert
from .tables import group_traits, profiles, traits

_SUMMARY_COLUMNS = ("workspace", "customer_id", "event_count", "first_seen_time", "last_seen_time")

# (owner id, key, trait): owner is a customer id or a group key.
TraitRow = tuple[str, str, Trait]


def trait_values(trait: Trait) -> dict[str, Any]:
    """The columns of a trait row that hold the trait."""
    source = trait.source
    return {
        "value": None if trait.removed else trait.value,
        "source_message_id": trait.source_message_id,
        "update_time": as_utc(trait.update_time),
        "received_at": as_utc(trait.received_at),
        "batch_index": trait.batch_index,
        "source_event_type": source.event_type.value if source.event_type else None,
        "library_name": source.library_name or None,
        "library_version": source.library_version or None,
        "method": source.method or None,
        "removed": True if trait.removed else None,
        "value_time": None if trait.removed else value_time(trait.value),
    }


def _source(
    event_type: str | None,
    library_name: str | None,
    library_version: str | None,
    method: str | None,
) -> TraitSource:
    return TraitSource(
        event_type=EventType(event_type) if event_type else None,
        library_name=library_name or "",
        library_version=library_version or "",
        method=method or "",
    )


# The columns ``read`` selects after the owner's, in ``_trait`` order (value_time,
# derived from the value, is left out: nothing read back needs it).
_READ_COLUMNS = (
    "key",
    "value",
    "source_message_id",
    "update_time",
    "received_at",
    "batch_index",
    "source_event_type",
    "library_name",
    "library_version",
    "method",
    "removed",
)


@lru_cache(maxsize=8)
def _read_statement(table: Table, owner: str, by_key: bool = False) -> Select[Any]:
    """_TraitTable.read's statement, built once (built per call, every listed owner is
    coerced again); the owners (and keys) go as expanding parameters."""
    statement = select(table.c[owner], *(table.c[name] for name in _READ_COLUMNS)).where(
        table.c.workspace == bindparam("workspace"),
        table.c[owner].in_(bindparam("owners", expanding=True)),
    )
    if by_key:
        statement = statement.where(table.c.key.in_(bindparam("keys", expanding=True)))
    return statement


class _TraitTable:
    """Traits of one kind of owner (a column naming it) in one table."""

    def __init__(self, conn: AsyncConnection, table: Table, owner: str) -> None:
        self._conn = conn
        self._table = table
        self._owner = owner

    async def read(
        self, workspace: str, owners: Collection[str], keys: Collection[str] | None = None
    ) -> dict[str, dict[str, Trait]]:
        """Every trait (removals too) of each owner, or only those of ``keys`` (so a page
        wanting two traits of customers holding hundreds reads two rows each); an empty
        dict for owners without."""
        found: dict[str, dict[str, Trait]] = {owner: {} for owner in owners}
        if not owners or (keys is not None and not keys):
            return found
        parameters: dict[str, Any] = {"workspace": workspace, "owners": list(owners)}
        if keys is not None:
            parameters["keys"] = list(keys)
        rows = await self._conn.execute(
            _read_statement(self._table, self._owner, keys is not None), parameters
        )
        # Many traits share a source (a batch, a library): each is made once per read.
        sources: dict[tuple[Any, ...], TraitSource] = {}
        for owner, key, value, message_id, updated, received, index, *origin, removed in rows:
            source = sources.get(origin_key := tuple(origin))
            if source is None:
                source = sources[origin_key] = _source(*origin)
            found[owner][key] = Trait(
                value=value,
                source_message_id=message_id,
                update_time=as_utc(updated),
                received_at=as_utc(received),
                batch_index=int(index),
                source=source,
                removed=bool(removed),
            )
        return found

    async def save(self, workspace: str, rows: Sequence[TraitRow]) -> None:
        await upsert(
            self._conn,
            self._table,
            [
                {"workspace": workspace, self._owner: owner, "key": key, **trait_values(trait)}
                for owner, key, trait in rows
            ],
            ("workspace", self._owner, "key"),
        )

    async def delete(self, workspace: str, owners: Collection[str]) -> None:
        table = self._table
        await self._conn.execute(
            delete(table).where(
                table.c.workspace == workspace, table.c[self._owner].in_(list(owners))
            )
        )


class TraitRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        self.of_customers = _TraitTable(connection, traits, "customer_id")
        self.of_groups = _TraitTable(connection, group_traits, "group_key")

    async def summaries_of(
        self, workspace: str, customer_ids: Collection[str]
    ) -> dict[str, ProfileSummary]:
        if not customer_ids:
            return {}
        rows = await self._conn.execute(
            select(profiles).where(
                profiles.c.workspace == workspace, profiles.c.customer_id.in_(list(customer_ids))
            )
        )
        return {
            row.customer_id: ProfileSummary(
                int(row.event_count), as_utc(row.first_seen_time), as_utc(row.last_seen_time)
            )
            for row in rows
        }

    async def add_to_summaries(self, workspace: str, added: Mapping[str, ProfileSummary]) -> None:
        """Add events to customers' counters in the database itself (no read first):
        counts add up, first and last seen times widen."""
        if not added:
            return
        rows = [
            (
                workspace,
                customer_id,
                summary.event_count,
                as_utc(summary.first_seen_time),
                as_utc(summary.last_seen_time),
            )
            for customer_id, summary in sorted(added.items())
        ]
        if can_insert(self._conn, profiles, _SUMMARY_COLUMNS):
            await insert_rows(
                self._conn, profiles, _SUMMARY_COLUMNS, rows, tail=_summary_tail(self._conn)
            )
            return
        statement = dialect_insert(self._conn, profiles)
        new = statement.excluded
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["workspace", "customer_id"],
                set_={
                    "event_count": profiles.c.event_count + new.event_count,
                    "first_seen_time": case(
                        (new.first_seen_time < profiles.c.first_seen_time, new.first_seen_time),
                        else_=profiles.c.first_seen_time,
                    ),
                    "last_seen_time": case(
                        (new.last_seen_time > profiles.c.last_seen_time, new.last_seen_time),
                        else_=profiles.c.last_seen_time,
                    ),
                },
            ),
            [dict(zip(_SUMMARY_COLUMNS, row, strict=True)) for row in rows],
        )

    async def delete_summaries(self, workspace: str, customer_ids: Collection[str]) -> None:
        await self._conn.execute(
            delete(profiles).where(
                profiles.c.workspace == workspace, profiles.c.customer_id.in_(list(customer_ids))
            )
        )


def _summary_tail(conn: AsyncConnection) -> str:
    """Counts add up, first and last seen times widen (as add_to_summaries' statement)."""
    q = conn.dialect.identifier_preparer.quote
    table, count, first, last = (
        q(profiles.name),
        q("event_count"),
        q("first_seen_time"),
        q("last_seen_time"),
    )
    return (
        f" ON CONFLICT ({q('workspace')}, {q('customer_id')}) DO UPDATE SET"
        f" {count} = {table}.{count} + excluded.{count},"
        f" {first} = CASE WHEN excluded.{first} < {table}.{first}"
        f" THEN excluded.{first} ELSE {table}.{first} END,"
        f" {last} = CASE WHEN excluded.{last} > {table}.{last}"
        f" THEN excluded.{last} ELSE {table}.{last} END"
    )


def first_seen(summary: ProfileSummary | None, moment: datetime) -> ProfileSummary:
    """A summary with one more event at ``moment``."""
    one = ProfileSummary(1, moment, moment)
    return one if summary is None else summary.including(one)
