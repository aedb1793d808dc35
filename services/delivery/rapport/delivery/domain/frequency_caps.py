"""Frequency caps: at most `limit` messages to one customer per sliding window.

A rule counts the messages of one purpose (or of every purpose) on one channel (or
across channels) in one workspace (or every workspace), e.g. "at most 1 marketing
email a week", "at most 3 marketing messages a week in all". A message counts
towards every rule that matches it from the moment it is cleared to go out; one that
then does not go out (suppressed, failed) stops counting.

Messages whose purpose is transactional (service messages: a receipt, a password
reset) are exempt: no rule applies to them and they never count.

A message some rule does not allow ends CAPPED, or, when that rule says `defer`, is
held until the window has room (the oldest counted message leaves it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from .model import Channel

ANY = "*"


class OnExceed(StrEnum):
    CAP = "cap"
    DEFER = "defer"


@dataclass(frozen=True)
class CapRule:
    limit: int
    window: timedelta
    purpose: str = ANY
    # None: messages on every channel count together.
    channel: Channel | None = None
    workspace: str = ANY
    on_exceed: OnExceed = OnExceed.CAP

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("a cap's limit must be at least 1")
        if self.window < timedelta(seconds=1):
            raise ValueError("a cap's window must be at least 1 second")

    def matches(self, workspace: str, purpose: str, channel: Channel) -> bool:
        return (
            self.workspace in (ANY, workspace)
            and self.purpose in (ANY, purpose)
            and self.channel in (None, channel)
        )

    @property
    def key(self) -> str:
        """Stable across replicas and restarts for the same rule (names its counters)."""
        spelled = f"{self.workspace}|{self.purpose}|{self.channel or ANY}|{self.window}"
        return hashlib.blake2b(spelled.encode(), digest_size=8).hexdigest()

    def describe(self) -> str:
        """E.g. `at most 1 marketing EMAIL message per 7 days` (no personal data)."""
        purpose = "" if self.purpose == ANY else f"{self.purpose} "
        channel = "" if self.channel is None else f"{self.channel.value} "
        plural = "" if self.limit == 1 else "s"
        return f"at most {self.limit} {purpose}{channel}message{plural} per {_span(self.window)}"


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


@dataclass(frozen=True)
class CapPolicy:
    rules: tuple[CapRule, ...] = ()
    transactional_purposes: frozenset[str] = frozenset({"transactional"})

    def rules_for(self, workspace: str, purpose: str, channel: Channel) -> list[CapRule]:
        """The rules a message counts towards (none for a transactional purpose)."""
        if purpose in self.transactional_purposes:
            return []
        return [rule for rule in self.rules if rule.matches(workspace, purpose, channel)]

    def rules_of(self, workspace: str, purpose: str) -> list[CapRule]:
        """Every rule a message of `purpose` may count towards, on any channel."""
        if purpose in self.transactional_purposes:
            return []
        return [
            rule
            for rule in self.rules
            if rule.workspace in (ANY, workspace) and rule.purpose in (ANY, purpose)
        ]

    @property
    def longest_window(self) -> timedelta:
        return max((rule.window for rule in self.rules), default=timedelta(0))


@dataclass(frozen=True)
class CapCheck:
    """What one rule found: how many counted messages are in its window, and when the
    oldest of those that must leave for one more to fit leaves."""

    rule: CapRule
    counted: int
    room_time: datetime | None = None

    @property
    def full(self) -> bool:
        return self.counted >= self.rule.limit


@dataclass(frozen=True)
class CapVerdict:
    """Whether a message may count (go out) now."""

    full: Sequence[CapCheck] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return not self.full

    @property
    def defer_until(self) -> datetime | None:
        """When every full rule says defer: when all of them have room; else None (cap)."""
        if not self.full or any(c.rule.on_exceed is OnExceed.CAP for c in self.full):
            return None
        times = [c.room_time for c in self.full]
        if any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)

    def describe(self) -> str:
        return "; ".join(check.rule.describe() for check in self.full)


def room_time(counted_times: Collection[datetime], rule: CapRule) -> datetime | None:
    """When the window has room again, given the times of the messages counted in it."""
    ordered = sorted(counted_times)
    excess = len(ordered) - rule.limit
    if excess < 0:
        return None
    return ordered[excess] + rule.window


@dataclass(frozen=True)
class Counted:
    """A message counted for a customer: its purpose, channel and when it was cleared."""

    purpose: str
    channel: Channel | None
    time: datetime


def verdict(rules: Sequence[CapRule], counted: Collection[Counted], now: datetime) -> CapVerdict:
    """Whether one more message fits every rule, given what is counted already."""
    full: list[CapCheck] = []
    for rule in rules:
        times = [
            c.time
            for c in counted
            if rule.purpose in (ANY, c.purpose)
            and rule.channel in (None, c.channel)
            and c.time > now - rule.window
        ]
        if len(times) >= rule.limit:
            full.append(CapCheck(rule, len(times), room_time(times, rule)))
    return CapVerdict(tuple(full))
