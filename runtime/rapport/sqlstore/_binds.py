"""Values converted for the driver as SQLAlchemy converts them, for writes that hand
rows to the driver directly (a service's hot multi-row inserts and updates)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect

BindProcessor = Callable[[Any], Any] | None

# SQLAlchemy's SQLite DATETIME storage format (its default, which the tables use).
_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def bind_processor(column_type: Any, dialect: Dialect) -> BindProcessor:
    """The conversion SQLAlchemy applies to a value of ``column_type`` for ``dialect``
    (None: the value goes as it is). SQLite datetimes get an equal, quicker one."""
    process = column_type._cached_bind_processor(dialect)
    if (
        process is not None
        and dialect.name == "sqlite"
        and isinstance(column_type, DateTime)
        and getattr(column_type.dialect_impl(dialect), "_storage_format", None) == _SQLITE_DATETIME
    ):
        return _sqlite_datetime(process)
    return process  # type: ignore[no-any-return]


def _sqlite_datetime(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLAlchemy's SQLite DATETIME bind processor, quicker for datetimes (the same
    text: ISO 8601 with a space and microseconds, the zone dropped as SQLAlchemy drops
    it), remembering the last value (a batch's rows share their times)."""
    last: list[Any] = [None, None]

    def process(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        if type(value) is datetime:
            text = value.isoformat(" ", "microseconds")[:26]
        else:
            text = fallback(value)
        last[0], last[1] = value, text
        return text

    return process
