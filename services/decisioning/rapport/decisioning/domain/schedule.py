"""When a time-window trigger fires: a date trait's date, plus years, plus days.

E.g. 30 days before `policy_renewal_date` (offset -30), or 60 days before a
dependent's 26th birthday (`dependent_birth_date`, 26 years, offset -60). The firing
is at a configured local time (WindowTiming.fire_at, 09:00 by default) of that day on
the customer's clock: the zone their time-zone trait names, else the workspace default
zone. Once the anchor date (date + years) has passed on that clock, a firing that could
not happen in time is dropped rather than sent late.

A firing is sent at its local time, never hours after it: one found more than an hour
(WindowTiming.late_after, a setting) past its time (the date trait arrived when the
window was already open, or the service was down then) waits for the next local fire
time, today's if it is still to come, else tomorrow's (send_time). If that next fire
time falls after the anchor date, the window is over: the firing is dropped (TOO_LATE),
like one found after its anchor date, rather than sent outside the local fire time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .model import Trigger, TriggerKind
from .rule_helpers import UTC_ZONE, time_zone

# By default, how long after its local fire time a firing is still sent at once: the
# scheduler's polls, a claim's lease after a transient failure. Later, it waits for the
# next local fire time (WindowTiming.late_after; 24 hours: sent at once all day).
LATE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class WindowTiming:
    """When in the day time-window triggers fire, and on whose clock."""

    # The local time of day of every firing.
    fire_at: time = time(9)
    # The profile trait naming the customer's IANA zone.
    zone_trait: str = "time_zone"
    # The zone of customers without a (valid) zone trait.
    default_zone: ZoneInfo = field(default=UTC_ZONE)
    # How long after its fire time a firing found due is still sent at once (send_time).
    late_after: timedelta = LATE_AFTER

    @classmethod
    def of(
        cls,
        fire_at: time,
        zone_trait: str,
        default_zone: str,
        late_after: timedelta = LATE_AFTER,
    ) -> WindowTiming:
        """From settings: an unknown default zone name means UTC (never a crash)."""
        zone = time_zone(default_zone) or UTC_ZONE
        return cls(fire_at.replace(tzinfo=None), zone_trait, zone, late_after)

    def zone_of(self, value: Any) -> ZoneInfo:
        """The zone a trait value names; the default zone for anything else."""
        if isinstance(value, str) and (zone := time_zone(value)) is not None:
            return zone
        return self.default_zone

    def customer_zone(self, traits: Mapping[str, Any]) -> ZoneInfo:
        """The customer's clock, for firings and decisions alike: the zone their
        `zone_trait` names, else the default zone."""
        return self.zone_of(traits.get(self.zone_trait))


@dataclass(frozen=True)
class Firing:
    # The date trait's date plus the trigger's years.
    anchor: date
    fire_time: datetime
    zone: ZoneInfo = field(default=UTC_ZONE)

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


def local_fire_time(day: date, fire_at: time, zone: ZoneInfo) -> datetime:
    """`fire_at` on `day` in `zone`, in UTC. A wall time skipped by a DST jump fires at
    the same offset as before the jump (i.e. later on the new clock); a repeated wall
    time fires at its first occurrence."""
    # fold=0: the offset in force before a transition (zoneinfo's rule for both cases).
    local = datetime.combine(day, fire_at.replace(tzinfo=None, fold=0), tzinfo=zone)
    return local.astimezone(UTC)


def fire_time_of(
    anchor: date, offset_days: int, timing: WindowTiming, zone: ZoneInfo
) -> datetime | None:
    """The moment a firing `offset_days` from `anchor` happens; None out of range."""
    try:
        fire_day = anchor + timedelta(days=offset_days)
        return local_fire_time(fire_day, timing.fire_at, zone)
    except (OverflowError, ValueError):
        return None


def firing(
    trigger: Trigger, value: Any, timing: WindowTiming | None = None, zone: ZoneInfo | None = None
) -> Firing | None:
    """When `trigger` fires for a customer whose date trait now holds `value` and whose
    clock is `zone` (default: the timing's default zone); None when the value is no date
    (or out of range)."""
    if trigger.kind is not TriggerKind.TIME_WINDOW:
        return None
    day = trait_date(value)
    anchor = add_years(day, trigger.years_after) if day is not None else None
    if anchor is None:
        return None
    timing = timing or WindowTiming()
    zone = zone or timing.default_zone
    fire_time = fire_time_of(anchor, trigger.offset_days, timing, zone)
    if fire_time is None:
        return None
    return Firing(anchor, fire_time, zone)


def last_day(anchor: date, offset_days: int) -> date:
    """The last day a firing may still be sent: its anchor date, or its own day when the
    trigger fires after the date (a positive offset), else it would always be too late."""
    if offset_days <= 0:
        return anchor
    try:
        return anchor + timedelta(days=offset_days)
    except OverflowError:
        return date.max


def too_late(anchor: date, now: datetime, zone: ZoneInfo = UTC_ZONE) -> bool:
    """Whether the anchor date is over on the customer's clock: a firing not sent by then
    is dropped."""
    try:
        return now.astimezone(zone).date() > anchor
    except OverflowError:
        return now.astimezone(UTC).date() > anchor


def send_time(
    fire_time: datetime, anchor: date, now: datetime, timing: WindowTiming, zone: ZoneInfo
) -> datetime | None:
    """When a firing scheduled at `fire_time` is sent, seen at `now`: at `fire_time` while
    that is not more than `timing.late_after` past; else at the next `timing.fire_at` on the
    customer's clock at or after `now` (today's, else tomorrow's). None when that day is
    after `anchor`: the window is over and the firing is dropped."""
    if now - fire_time <= timing.late_after:
        return fire_time
    try:
        today = now.astimezone(zone).date()
        for day in (today, today + timedelta(days=1)):
            if day > anchor:
                return None
            candidate = local_fire_time(day, timing.fire_at, zone)
            if candidate >= now:
                return candidate
    except (OverflowError, ValueError):
        return None  # a day beyond the calendar: the window is over
    return None
