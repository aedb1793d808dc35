"""Multi-row writes: ingestion writes a batch with a few statements, never one per event."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """INSERT with ON CONFLICT (PostgreSQL and SQLite spell it alike)."""
    return _INSERTS[conn.dialect.name](table)


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key_columns: Collection[str],
) -> None:
    """Insert ``rows``, replacing the other columns of rows whose key exists (one
    executemany: SQLAlchemy sends it as multi-row statements)."""
    if not rows:
        return
    statement = dialect_insert(conn, table)
    replaced = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in key_columns
    }
    await conn.execute(
        statement.on_conflict_do_update(index_elements=list(key_columns), set_=replaced),
        list(rows),
    )


async def insert_new(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key_columns: Collection[str],
    returning: str,
) -> set[Any]:
    """Insert the rows whose key is free; the ``returning`` column of those inserted."""
    if not rows:
        return set()
    statement = (
        dialect_insert(conn, table)
        .on_conflict_do_nothing(index_elements=list(key_columns))
        .returning(table.c[returning])
    )
    result = await conn.execute(statement, list(rows))
    return {row[0] for row in result}
