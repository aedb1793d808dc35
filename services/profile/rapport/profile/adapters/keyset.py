"""Keyset pagination conditions: rows strictly after a position, newest or oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rapport.sqlstore import as_utc
from sqlalchemy import ColumnElement, and_, or_


def older_than(
    time_column: Any, tie_column: Any, position: tuple[datetime, Any]
) -> ColumnElement[bool]:
    """Rows after ``position`` in (time, tie) descending order."""
    moment, tie = as_utc(position[0]), position[1]
    return or_(time_column < moment, and_(time_column == moment, tie_column < tie))


def newer_than(
    time_column: Any, tie_column: Any, position: tuple[datetime, Any]
) -> ColumnElement[bool]:
    """Rows after ``position`` in (time, tie) ascending order."""
    moment, tie = as_utc(position[0]), position[1]
    return or_(time_column > moment, and_(time_column == moment, tie_column > tie))
