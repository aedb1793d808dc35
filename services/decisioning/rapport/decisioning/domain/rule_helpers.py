"""What rules may use besides their variables: date helpers, the customer's local time.

Helpers raise short messages without the value they were given: the CEL binding
logs a failing helper's error, and values can be personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HELPER_FUNCTIONS = frozenset({"days_until", "days_since", "years_since", "add_years"})
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
_MAX_DATE_CHARS = 64
UTC_ZONE = ZoneInfo("UTC")


def time_zone(name: str) -> ZoneInfo | None:
    """The IANA zone of that name; None when there is none."""
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, a directory, too long...
        return None


def to_date(value: Any, zone: ZoneInfo) -> date:
    """A date from `YYYY-MM-DD`, an RFC 3339 time (its date in `zone`) or a timestamp."""
    if isinstance(value, datetime):
        return value.astimezone(zone).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) <= _MAX_DATE_CHARS:
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return to_date(datetime.fromisoformat(text.replace("Z", "+00:00")), zone)
        except ValueError:
            pass
    raise ValueError("not a date (YYYY-MM-DD, an RFC 3339 time or a timestamp)")


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("the number of years must be a whole number")
    return int(value)


def helper_functions(today: date, zone: ZoneInfo) -> dict[str, Callable[..., Any]]:
    """The helpers, counting from `today` (the decision's date in the customer's zone)."""

    def days_until(value: Any) -> int:
        return (to_date(value, zone) - today).days

    def days_since(value: Any) -> int:
        return (today - to_date(value, zone)).days

    def years_since(value: Any) -> int:
        then = to_date(value, zone)
        return today.year - then.year - ((today.month, today.day) < (then.month, then.day))

    def add_years(value: Any, years: Any) -> str:
        then = to_date(value, zone)
        year = then.year + _whole(years)
        if not 1 <= year <= 9999:
            raise ValueError("the year is out of range")
        # 29 February plus a year that has none: the 28th.
        day = min(then.day, 28) if then.month == 2 and then.day == 29 else then.day
        try:
            return then.replace(year=year).isoformat()
        except ValueError:
            return then.replace(year=year, day=day).isoformat()

    return {
        "days_until": days_until,
        "days_since": days_since,
        "years_since": years_since,
        "add_years": add_years,
    }


def local_time(now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """`context.local_time`: the moment of the decision on the customer's clock."""
    local = now.astimezone(zone)
    return {
        "date": local.date().isoformat(),
        "hour": local.hour,
        "minute": local.minute,
        "weekday": local.isoweekday(),
        "time_zone": zone.key,
    }
