"""Multi-row writes: ingestion writes a batch with a few statements, never one per event.

The hot writes skip SQLAlchemy's per-row statement machinery (parameter construction,
compiled-statement lookup per row): the INSERT text of a shape (table, columns, row
count, conflict clause, RETURNING) is made once, each value goes through the column
type's own bind processor for the connection's dialect (the very function SQLAlchemy
would apply; rapport.sqlstore.bind_processor), and the rows go to the driver
as one multi-row statement per chunk (SQLite without RETURNING: its executemany), on
the same connection, in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

from rapport.sqlstore import BindProcessor, bind_processor
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# Bound parameters per statement: PostgreSQL's protocol allows 65535, SQLite (3.32+)
# 32766; SQLAlchemy's own multi-row inserts stop at 1000 rows.
_MAX_PARAMS = {
    "postgresql": 32_000,
    "sqlite": 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 999,
}
_MAX_ROWS = 1000
_PLACEHOLDERS: dict[str, Callable[[int], str]] = {
    "qmark": lambda n: "?",
    "numeric_dollar": lambda n: f"${n}",
    "numeric": lambda n: f":{n}",
    "format": lambda n: "%s",
}


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """INSERT with ON CONFLICT (PostgreSQL and SQLite spell it alike)."""
    return _INSERTS[conn.dialect.name](table)


def _fast_path(dialect: Dialect, table: Table, columns: Sequence[str]) -> bool:
    """Whether rows of these columns can go straight to the driver: a known dialect
    and paramstyle, and no column left out that SQLAlchemy would fill in itself."""
    if dialect.name not in _MAX_PARAMS or dialect.paramstyle not in _PLACEHOLDERS:
        return False
    given = set(columns)
    return all(
        c.name in given or (c.default is None and c.onupdate is None) for c in table.columns
    ) and all(c.onupdate is None for c in table.columns)


@lru_cache(maxsize=256)
def _processors(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[BindProcessor, ...]:
    return tuple(bind_processor(table.c[name].type, dialect) for name in columns)


@lru_cache(maxsize=1024)
def _insert_text(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    rows: int,
    tail: str,
) -> str:
    quote = dialect.identifier_preparer.quote
    placeholder = _PLACEHOLDERS[dialect.paramstyle]
    width = len(columns)
    values = ", ".join(
        "(" + ", ".join(placeholder(r * width + i + 1) for i in range(width)) + ")"
        for r in range(rows)
    )
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES {values}{tail}"


@lru_cache(maxsize=256)
def _unnest_insert_text(dialect: Dialect, table: Table, columns: tuple[str, ...], tail: str) -> str:
    """PostgreSQL: the rows as one array per column (``INSERT ... SELECT * FROM
    unnest(...)``): the same text whatever the row count, so asyncpg prepares it once,
    where a VALUES list is parsed and planned anew for every row count."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    arrays = _array_params(dialect, table, columns)
    return f"INSERT INTO {quote(table.name)} ({names}) SELECT * FROM unnest({arrays}){tail}"


def _array_params(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    """One parameter per column, cast to an array of the column's type (for unnest)."""
    placeholder = _PLACEHOLDERS[dialect.paramstyle]
    return ", ".join(
        f"{placeholder(i + 1)}::{table.c[name].type.compile(dialect=dialect)}[]"
        for i, name in enumerate(columns)
    )


def _as_arrays(rows: Sequence[Sequence[Any]]) -> tuple[list[Any], ...]:
    """Rows as one list per column: the parameters of ``_array_params``."""
    return tuple(list(column) for column in zip(*rows, strict=True))


def _conflict_tail(
    dialect: Dialect,
    table: Table,
    key_columns: Sequence[str],
    update: Sequence[str] | None,
    returning: Sequence[str],
) -> str:
    """`` ON CONFLICT (keys) DO NOTHING`` (update None) or ``DO UPDATE SET c =
    excluded.c`` for each column of ``update``; then RETURNING."""
    quote = dialect.identifier_preparer.quote
    tail = ""
    if key_columns:
        tail = f" ON CONFLICT ({', '.join(quote(c) for c in key_columns)})"
        if update:
            sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
            tail += f" DO UPDATE SET {sets}"
        else:
            tail += " DO NOTHING"
    if returning:
        tail += f" RETURNING {', '.join(quote(c) for c in returning)}"
    return tail


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    tail: str = "",
    returning: bool = False,
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (tuples in ``columns`` order) with the ``tail`` clause (from
    ``_conflict_tail``): one multi-row statement per chunk (SQLite without RETURNING:
    executemany); the returned rows (as the driver returns them: only for columns of
    types without result processing)."""
    if not rows:
        return []
    dialect = conn.dialect
    names = tuple(columns)
    processors = _processors(dialect, table, names)
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    width = len(names)
    if dialect.name == "sqlite" and not returning:
        # SQLite's executemany: one statement prepared once, each row bound and run
        # (no parse of a long statement per chunk).
        statement = _insert_text(dialect, table, names, 1, tail)
        bound = _processed(rows, active) if active else [tuple(row) for row in rows]
        await conn.exec_driver_sql(statement, bound)
        return []
    if dialect.name == "postgresql":
        bound = _processed(rows, active) if active else rows
        statement = _unnest_insert_text(dialect, table, names, tail)
        result = await conn.exec_driver_sql(statement, _as_arrays(bound))
        return [tuple(row) for row in result] if returning else []
    chunk = max(1, min(_MAX_ROWS, _MAX_PARAMS[dialect.name] // width))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        flat = tuple(chain.from_iterable(_processed(part, active) if active else part))
        statement = _insert_text(dialect, table, names, len(part), tail)
        result = await conn.exec_driver_sql(statement, tuple(flat))
        if returning:
            found.extend(tuple(row) for row in result)
    return found


def can_delete(conn: AsyncConnection, table: Table, key_columns: Sequence[str]) -> bool:
    """Whether rows can be deleted by their keys through ``delete_rows``: SQLite, where
    an executemany is one statement prepared once, and PostgreSQL, where the keys go
    as one array per column (a list of row values in IN is planned anew per length
    and runs as a bitmap scan per key: 5x slower at a few hundred keys)."""
    name = conn.dialect.name
    return name in ("sqlite", "postgresql") and conn.dialect.paramstyle in _PLACEHOLDERS


async def delete_rows(
    conn: AsyncConnection, table: Table, key_columns: Sequence[str], keys: Sequence[Sequence[Any]]
) -> None:
    """DELETE the rows of these keys (tuples in ``key_columns`` order) in one statement
    (see can_delete)."""
    if not keys:
        return
    names = tuple(key_columns)
    active = [
        (i, p) for i, p in enumerate(_processors(conn.dialect, table, names)) if p is not None
    ]
    bound = _processed(keys, active) if active else [tuple(key) for key in keys]
    statement = _delete_text(conn.dialect, table, names)
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(statement, _as_arrays(bound))
        return
    await conn.exec_driver_sql(statement, bound)


@lru_cache(maxsize=64)
def _delete_text(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    quote = dialect.identifier_preparer.quote
    placeholder = _PLACEHOLDERS[dialect.paramstyle]
    if dialect.name == "postgresql":
        arrays = _array_params(dialect, table, columns)
        keys = ", ".join(f"k{i}" for i in range(len(columns)))
        where = " AND ".join(
            f"{quote(table.name)}.{quote(c)} = doomed.k{i}" for i, c in enumerate(columns)
        )
        return (
            f"DELETE FROM {quote(table.name)} USING unnest({arrays}) AS doomed({keys}) "
            f"WHERE {where}"
        )
    where = " AND ".join(f"{quote(c)} = {placeholder(i + 1)}" for i, c in enumerate(columns))
    return f"DELETE FROM {quote(table.name)} WHERE {where}"


def _processed(
    rows: Sequence[Sequence[Any]], active: Sequence[tuple[int, BindProcessor]]
) -> list[tuple[Any, ...]]:
    """The rows with each processed column's values run through its processor, column
    by column (map over a column: no per-row Python loop), in row order."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for i, process in active:
        columns[i] = list(map(process, columns[i]))  # type: ignore[arg-type]
    return list(zip(*columns, strict=True))


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key_columns: Collection[str],
) -> None:
    """Insert ``rows``, replacing the other columns of rows whose key exists (multi-row
    statements)."""
    if not rows:
        return
    columns = [c.name for c in table.columns if c.name in rows[0]]
    await upsert_rows(
        conn, table, columns, [tuple(row[c] for c in columns) for row in rows], key_columns
    )


async def upsert_rows(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key_columns: Collection[str],
) -> None:
    """``upsert`` of rows given as tuples in ``columns`` order."""
    if not rows:
        return
    keys = list(key_columns)
    if _fast_path(conn.dialect, table, columns):
        # Every column not a key is replaced (left out of the rows: its default).
        replaced = [c.name for c in table.columns if c.name not in key_columns]
        tail = _conflict_tail(conn.dialect, table, keys, replaced, ())
        await insert_rows(conn, table, columns, rows, tail=tail)
        return
    statement = dialect_insert(conn, table)
    replaced_columns = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in key_columns
    }
    await conn.execute(
        statement.on_conflict_do_update(index_elements=keys, set_=replaced_columns),
        [dict(zip(columns, row, strict=True)) for row in rows],
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
    keys = list(key_columns)
    columns = [c.name for c in table.columns if c.name in rows[0]]
    if _fast_path(conn.dialect, table, columns) and _plain_result(conn.dialect, table, returning):
        tail = _conflict_tail(conn.dialect, table, keys, None, (returning,))
        found = await insert_rows(
            conn,
            table,
            columns,
            [tuple(row[c] for c in columns) for row in rows],
            tail=tail,
            returning=True,
        )
        return {row[0] for row in found}
    statement = (
        dialect_insert(conn, table)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(table.c[returning])
    )
    result = await conn.execute(statement, list(rows))
    return {row[0] for row in result}


def _plain_result(dialect: Dialect, table: Table, *columns: str) -> bool:
    """Whether the driver's values of these columns are what SQLAlchemy would return."""
    return all(table.c[c].type._cached_result_processor(dialect, None) is None for c in columns)


def can_insert(
    conn: AsyncConnection, table: Table, columns: Sequence[str], returning: Sequence[str] = ()
) -> bool:
    """Whether rows of these columns (returning those) can go through ``insert_rows``."""
    return _fast_path(conn.dialect, table, columns) and _plain_result(
        conn.dialect, table, *returning
    )


def ignore_conflicts_clause(conn: AsyncConnection, table: Table, key_columns: Sequence[str]) -> str:
    """`` ON CONFLICT (keys) DO NOTHING``, for ``insert_rows``."""
    return _conflict_tail(conn.dialect, table, key_columns, None, ())


def returning_clause(conn: AsyncConnection, table: Table, columns: Sequence[str]) -> str:
    return _conflict_tail(conn.dialect, table, (), None, columns)
