"""One statement executed for many rows, handed to the driver directly.

The hot multi-row writes (messages accepted, attempt outcomes, their history and
outbox rows, cap counts) skip SQLAlchemy's per-row parameter machinery, which cost
more than the database itself: the statement is compiled once per dialect and set of
columns, each value goes through the bind processor SQLAlchemy would apply to it (the
column type's, for the connection's dialect), and the rows go to the driver's
executemany on the same connection, in the same transaction. Values the statement
binds itself (literals) keep their compiled value. The conversions are
rapport.sqlstore.bind_processor's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapport.sqlstore import BindProcessor, bind_processor
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class _Compiled:
    # Kept so that the id the entry is found by is never reused by another statement.
    statement: Executable
    text: str
    # Per placeholder, in order: the row key it takes and its bind processor, or (None,
    # None, the value) for a literal of the statement (processed once).
    plan: tuple[tuple[str | None, BindProcessor, Any], ...]


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
    plan: list[tuple[str | None, BindProcessor, Any]] = []
    for name in compiled.positiontup:
        process = bind_processor(compiled.binds[name].type, dialect)
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
