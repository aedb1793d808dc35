"""The multi-row writes bind each value as SQLAlchemy would (adapters.bulk)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from rapport.profile.adapters import bulk
from rapport.profile.adapters.tables import events
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite

MOMENTS = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
    datetime(999, 1, 2, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 999999),
    datetime(2026, 5, 5, tzinfo=timezone(timedelta(hours=5))),
    None,
    date(2020, 1, 1),
]


@pytest.mark.parametrize("dialect", [aiosqlite.dialect(), asyncpg.dialect()])
def test_values_are_bound_as_sqlalchemy_binds_them(dialect: object) -> None:
    columns = ("timestamp", "received_at", "document", "workspace")
    ours = bulk._processors(dialect, events, columns)  # type: ignore[arg-type]
    for name, process in zip(columns, ours, strict=True):
        theirs = events.c[name].type._cached_bind_processor(dialect)  # type: ignore[arg-type]
        if theirs is None:
            assert process is None
            continue
        assert process is not None
        values = MOMENTS + MOMENTS[:2] if name != "document" else [{"a": [1, 2.5]}, None, "x"]
        for value in values:
            assert process(value) == theirs(value), (name, value)


def test_rows_are_processed_column_by_column_in_row_order() -> None:
    dialect = aiosqlite.dialect()
    columns = ("workspace", "timestamp", "document", "received_at")
    processors = bulk._processors(dialect, events, columns)  # type: ignore[arg-type]
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    rows = [("ws", moment, {"n": n}, MOMENTS[0]) for n, moment in enumerate(MOMENTS)]
    expected = [
        tuple(value if p is None else p(value) for value, p in zip(row, processors, strict=True))
        for row in rows
    ]
    assert bulk._processed(rows, active) == expected
