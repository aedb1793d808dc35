"""Date-valued traits: the instant a trait value names, for rules that count days.

Segment senders write dates as ISO 8601 strings (``"2025-03-01"``,
``"2025-03-01T09:30:00Z"``). Only strings of exactly those shapes count: a number
or a code that merely looks like digits (``"20250301"``) stays a plain value.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?"
)


def value_time(value: Any) -> datetime | None:
    """The UTC instant a date or date-time string names (a date: its midnight UTC;
    a date-time without an offset: UTC); None for any other value."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        if _DATE.fullmatch(value):
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        match = _DATE_TIME.fullmatch(value)
        if match is None:
            return None
        # Microseconds at most: digits past them are dropped, as protobuf JSON readers do.
        fraction = (match["fraction"] or "")[:6]
        zone = match["zone"] or ""
        text = match["base"].replace("t", "T").replace(" ", "T")
        text += f".{fraction.ljust(6, '0')}" if fraction else ""
        text += "+00:00" if zone in ("", "Z", "z") else zone
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return None  # e.g. 2025-02-30: shaped like a date, but none
