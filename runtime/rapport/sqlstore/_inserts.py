"""INSERT ... ON CONFLICT DO NOTHING, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_if_absent(table: Table, *keys: str) -> Mapping[str, Any]:
    """Per dialect name (``connection.dialect.name``), an insert into ``table`` that
    does nothing when a row with the same ``keys`` (a unique index) exists. Built once,
    at import, by the statements' owners."""
    return {
        "postgresql": postgresql_insert(table).on_conflict_do_nothing(index_elements=list(keys)),
        "sqlite": sqlite_insert(table).on_conflict_do_nothing(index_elements=list(keys)),
    }
