"""Data hygiene: how long events are kept, and which customers count as inactive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from rapport.errors import InvalidArgument

MAX_DAYS = 36_500
MAX_RETENTION_ENTRIES = 1_000
MAX_EVENT_NAME_LENGTH = 200


class InactivityAction(StrEnum):
    REPORT = "report"
    DELETE = "delete"


@dataclass(frozen=True)
class InactivityRule:
    """Inactive: no ``event_name`` event within ``inactive_days`` days (and known for
    at least that long)."""

    event_name: str
    inactive_days: int
    action: InactivityAction

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.inactive_days)


@dataclass(frozen=True)
class HygienePolicy:
    workspace: str
    # Days an event is kept after its event time; 0: forever.
    default_retention_days: int = 0
    # Event name (the type for events without one) -> days kept; 0: forever.
    event_retention_days: dict[str, int] = field(default_factory=dict)
    inactivity: InactivityRule | None = None
    # None: the default policy (never set).
    update_time: datetime | None = None

    def retention_cutoffs(self, now: datetime) -> tuple[dict[str, datetime], datetime | None]:
        """(event name -> delete events before this time, the default's cutoff or
        None); names kept forever map to nothing but still escape the default."""
        named = {
            name: now - timedelta(days=days)
            for name, days in self.event_retention_days.items()
            if days > 0
        }
        default = (
            now - timedelta(days=self.default_retention_days)
            if self.default_retention_days > 0
            else None
        )
        return named, default


def retention_name(event_type: str, event_name: str) -> str:
    """The name an event's retention is looked up by: its name, else its type."""
    return event_name or event_type


def check_days(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(path, "must be a whole number of days")
    if not minimum <= value <= MAX_DAYS:
        raise InvalidArgument(path, f"must be between {minimum} and {MAX_DAYS}")
    return value


def check_event_name(name: str, path: str) -> str:
    if not name:
        raise InvalidArgument(path, "must not be empty")
    if len(name) > MAX_EVENT_NAME_LENGTH:
        raise InvalidArgument(path, f"must be at most {MAX_EVENT_NAME_LENGTH} characters")
    if "\x00" in name:
        raise InvalidArgument(path, "must not contain NUL characters")
    return name


def validated_policy(policy: HygienePolicy, path: str) -> HygienePolicy:
    """The policy, checked field by field (``path`` prefixes the field names)."""
    check_days(policy.default_retention_days, f"{path}.default_retention_days", minimum=0)
    if len(policy.event_retention_days) > MAX_RETENTION_ENTRIES:
        raise InvalidArgument(
            f"{path}.event_retention_days", f"at most {MAX_RETENTION_ENTRIES} entries"
        )
    for name, days in policy.event_retention_days.items():
        entry = f"{path}.event_retention_days[{name[:50]!r}]"
        check_event_name(name, entry)
        check_days(days, entry, minimum=0)
    if policy.inactivity is not None:
        rule = policy.inactivity
        check_event_name(rule.event_name, f"{path}.inactivity.event_name")
        check_days(rule.inactive_days, f"{path}.inactivity.inactive_days", minimum=1)
    return policy
