"""When a time-window trigger fires: a date trait's date, plus years, plus days.

E.g. 30 days before `policy_renewal_date` (offset -30), or 60 days before a
dependent's 26th birthday (`dependent_birth_date`, 26 years, offset -60). The firing
is at 00:00 UTC of that day; once the anchor date (date + years) has passed, a
firing that could not happen in time is dropped rather than sent late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .model import Trigger, TriggerKind


@dataclass(frozen=True)
class Firing:
    # The date trait's date plus the trigger's years.
    anchor: date
    fire_time: datetime

    @property
    def anchor_text(self) -> str:
        return self.anchor.isoformat()


def trait_date(value: Any) -> date | None:
    """The date of a trait value: `YYYY-MM-DD` or an RFC 3339 time; None otherwise."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.date()


def add_years(day: date, years: int) -> date | None:
    """`day` `years` later (29 February becomes 28 February); None past year 9999."""
    year = day.year + years
    if year > date.max.year:
        return None
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def firing(trigger: Trigger, value: Any) -> Firing | None:
    """When `trigger` fires for a customer whose date trait now holds `value`; None when the
    value is no date (or out of range)."""
    if trigger.kind is not TriggerKind.TIME_WINDOW:
        return None
    day = trait_date(value)
    anchor = add_years(day, trigger.years_after) if day is not None else None
    if anchor is None:
        return None
    try:
        fire_day = anchor + timedelta(days=trigger.offset_days)
    except OverflowError:
        return None
    return Firing(anchor, datetime.combine(fire_day, time(0), tzinfo=UTC))


def too_late(anchor: date, now: datetime) -> bool:
    """Whether the anchor date is over (in UTC): a firing not sent by then is dropped."""
    return now.astimezone(UTC).date() > anchor
