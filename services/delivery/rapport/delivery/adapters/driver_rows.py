"""One statement executed for many rows, handed to the driver directly.

The hot multi-row writes (messages accepted, attempt outcomes, their history and
outbox rows, cap counts) skip SQLAlchemy's per-row parameter machinery, which cost
more than the database itself: the statement is compiled once per dialect and set of
columns, each value goes through the bind processor SQLAlchemy would apply to it (the
column type's, for the connection's dialect), and the rows go to the driver's
executemany on the same connection, in the same transaction. Values the statement
binds itself (literals) keep their compiled value. SQLite datetimes are written by an
equal, quicker function than SQLAlchemy's (the same text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any] | None

# SQLAlchemy's SQLite DATETIME storage format (its default, which the tables use).
_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _sqlite_datetime(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLAlchemy's SQLite DATETIME bind processor, quicker for datetimes: the same text
    (ISO 8601 with a space and microseconds, the zone dropped as SQLAlchemy drops it)."""

    def process(value: Any) -> Any:
        if type(value) is datetime:
            return value.isoformat(" ", "microseconds")[:26]
        return fallback(value)

    return process


def _processor(column_type: Any, dialect: Dialect) -> Processor:
    process = column_type._cached_bind_processor(dialect)
    if (
        process is not None
        and dialect.name == "sqlite"
        and isinstance(column_type, DateTime)
        and getattr(column_type.dialect_impl(dialect), "_storage_format", None) == _SQLITE_DATETIME
    ):
        return _sqlite_datetime(process)
    return process  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Compiled:
    # Kept so that the id the entry is found by is never reused by another statement.
    statement: Executable
    text: str
    # Per placeholder, in order: the row key it takes and its bind processor, or (None,
    # None, the value) for a literal of the statement (processed once).
    plan: tuple[tuple[str | None, Processor, Any], ...]


# By statement, dialect and driver (their paramstyles differ), and the rows' keys.
_compiled: dict[tuple[int, str, str, tuple[str, ...]], _Compiled] = {}


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
    entry = _compiled.get((id(statement), dialect.name, dialect.driver, keys))
    if entry is not None:
        return entry
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if not compiled.positional or compiled.positiontup is None or compiled.post_compile_params:
        raise ValueError("only statements with plain positional parameters run at driver level")
    values = compiled.construct_params(_check=False)
    plan: list[tuple[str | None, Processor, Any]] = []
    for name in compiled.positiontup:
        process = _processor(compiled.binds[name].type, dialect)
        if name in keys:
            plan.append((name, process, None))
        else:
            value = values[name]
            plan.append((None, None, value if process is None else process(value)))
    entry = _Compiled(statement, compiled.string, tuple(plan))
    _compiled[(id(statement), dialect.name, dialect.driver, keys)] = entry
    return entry


async def execute_rows(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> CursorResult[Any] | None:
    """`statement` executed once per row, in one driver call (every row has the same
    keys: the bind names, or the column names of an INSERT); the result, None when
    `rows` is empty.

    `statement` must be built once (a module constant): its compiled form is kept."""
    if not rows:
        return None
    keys = tuple(rows[0])
    if any(len(row) != len(keys) for row in rows):
        raise ValueError("every row of one execution must have the same keys")
    compiled = _compile(statement, conn.dialect, keys)
    plan = compiled.plan
    params = [
        tuple(
            [
                value if name is None else row[name] if process is None else process(row[name])
                for name, process, value in plan
            ]
        )
        for row in rows
    ]
    return await conn.exec_driver_sql(compiled.text, params)
