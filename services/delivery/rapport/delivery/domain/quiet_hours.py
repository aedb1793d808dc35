"""Quiet hours: a daily window, in the customer's own time zone, when messages wait.

The window runs from `start` to `end` local time and may span midnight (21:00 to
08:00). The zone is the customer's (an IANA name in a profile trait) or, when the
profile has none or an unknown one, the workspace's. A message due inside the window
is held until it ends: the release is the next local `end` after now, as a UTC
instant. A local `end` that a clock change skips (daylight saving) is read with the
offset before the change (PEP 495, fold=0), so the release falls just after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import Channel

# The channels that reach a person's device at once; the inbox and webhooks wait for
# nobody to look.
DEFAULT_QUIET_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.PUSH})


def time_zone(name: object) -> tzinfo | None:
    """The IANA zone called `name`; None when it is not one."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    # The workspace's zone, for customers without a (known) zone of their own.
    default_zone: tzinfo = UTC
    channels: frozenset[Channel] = DEFAULT_QUIET_CHANNELS

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")

    def zone_for(self, traits: Mapping[str, Any], trait: str) -> tzinfo:
        return time_zone(traits.get(trait)) or self.default_zone

    def _inside(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight

    def release_time(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When a message due `now` may go, if `now` is inside the window; else None."""
        local = now.astimezone(zone)
        if not self._inside(local.time().replace(tzinfo=None)):
            return None
        day = local.date()
        if not (self.start < self.end) and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)  # inside the part before midnight: ends tomorrow
        release = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
        # A local end time skipped by a clock change maps before the jump: never earlier
        # than now, and never inside the window again.
        return max(release, now.astimezone(UTC) + timedelta(seconds=1))


@dataclass(frozen=True)
class QuietHoursPolicy:
    """Quiet hours per workspace ("*": every workspace without its own)."""

    by_workspace: Mapping[str, QuietHours]
    time_zone_trait: str = "timezone"

    def release_time(
        self, workspace: str, channel: Channel, traits: Mapping[str, Any], now: datetime
    ) -> datetime | None:
        hours = self.by_workspace.get(workspace) or self.by_workspace.get("*")
        if hours is None or channel not in hours.channels:
            return None
        return hours.release_time(now, hours.zone_for(traits, self.time_zone_trait))
