"""The consent ledger: entries, and which entry is in force when.

An entry is never changed once recorded; the state at a moment is derived from the
entries alone, so any past state can be reconstructed from the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rapport.consent.domain import names


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WEBHOOK = "webhook"
    IN_APP = "in_app"
    # Shown on the inbound channel that asked; nothing is sent on it, so no consent is
    # recorded or checked for it (domain.validation.require_channel refuses it).
    INBOUND = "inbound"


class ConsentState(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


class Reason(StrEnum):
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    NO_RECORD_DEFAULT_DENY = "NO_RECORD_DEFAULT_DENY"
    # The entry in force holds a state this version cannot read (a newer version wrote
    # it): it may withdraw consent, so the opt-in default applies, as with no record.
    UNREADABLE_RECORD_DEFAULT_DENY = "UNREADABLE_RECORD_DEFAULT_DENY"


def known_channel(value: str) -> Channel | None:
    """The channel a stored value names; None for one this version does not know."""
    try:
        return Channel(value)
    except ValueError:
        return None


def known_state(value: str) -> ConsentState | None:
    """The state a stored value names; None for one this version does not know."""
    try:
        return ConsentState(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ConsentKey:
    """What one consent decision is about."""

    workspace: str
    customer_id: str
    purpose: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One ledger entry. `seq` is the ledger position (0 until stored).

    Read back from the ledger, ``channel`` and ``state`` are None for a value this
    version does not know (written by a newer one). Such an entry is still listed; an
    unknown channel is never the one a check asks about, and an unknown state in force
    answers a check with the opt-in default (see ``decide``).
    """

    id: str
    workspace: str
    customer_id: str
    purpose: str
    channel: Channel | None
    state: ConsentState | None
    source: str
    notice_version: str
    proof: str
    effective_time: datetime
    record_time: datetime
    seq: int = 0

    @property
    def key(self) -> ConsentKey:
        if self.channel is None:
            raise ValueError(f"ledger entry {self.id} has a channel this version cannot read")
        return ConsentKey(self.workspace, self.customer_id, self.purpose, self.channel)

    @property
    def name(self) -> str:
        return names.consent_record_name(self.workspace, self.customer_id, self.id)

    @property
    def customer_name(self) -> str:
        return names.customer_name(self.workspace, self.customer_id)

    def in_force_now(self, now: datetime) -> bool:
        """Whether this entry counts for a check of the current state.

        Everything committed is known now. An entry whose effective time is not after
        its record time was in force the moment it was recorded, whatever this
        process's clock says (another replica's clock may run slightly ahead).
        """
        return self.effective_time <= now or self.effective_time <= self.record_time

    def in_force_at(self, at: datetime) -> bool:
        """Whether this entry counts for a check at a past (or given) moment:
        effective by then, and already known then."""
        return self.effective_time <= at and self.record_time <= at


@dataclass(frozen=True, slots=True)
class CurrentState:
    """The entry in force now and until when that answer holds without a new write
    (the effective time of the earliest entry recorded ahead of time), if ever."""

    entry: ConsentEntry | None
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    allowed: bool
    state: ConsentState
    reason: Reason
    entry: ConsentEntry | None


def _precedence(entry: ConsentEntry) -> tuple[datetime, int]:
    # The latest decision wins; among equal effective times, the later ledger entry.
    return (entry.effective_time, entry.seq)


def entry_in_force_at(entries: Iterable[ConsentEntry], at: datetime) -> ConsentEntry | None:
    """The entry in force at `at` given what was known at `at`."""
    return max((e for e in entries if e.in_force_at(at)), key=_precedence, default=None)


def current_state(entries: Iterable[ConsentEntry], now: datetime) -> CurrentState:
    """The entry in force now, and when an entry recorded ahead of time takes over."""
    entries = list(entries)
    entry = max((e for e in entries if e.in_force_now(now)), key=_precedence, default=None)
    valid_until = min((e.effective_time for e in entries if not e.in_force_now(now)), default=None)
    return CurrentState(entry, valid_until)


def decide(entry: ConsentEntry | None) -> ConsentDecision:
    """The answer to a check from the entry in force (opt-in: nothing recorded means no).

    An entry in force whose state this version cannot read is not skipped (an older,
    readable grant would then answer for a decision that may have withdrawn it): the
    answer is the opt-in default, naming that entry.
    """
    if entry is None:
        return ConsentDecision(False, ConsentState.DENIED, Reason.NO_RECORD_DEFAULT_DENY, None)
    if entry.state is None:
        return ConsentDecision(
            False, ConsentState.DENIED, Reason.UNREADABLE_RECORD_DEFAULT_DENY, entry
        )
    if entry.state is ConsentState.GRANTED:
        return ConsentDecision(True, ConsentState.GRANTED, Reason.GRANTED, entry)
    return ConsentDecision(False, ConsentState.DENIED, Reason.DENIED, entry)


def answers_now(
    entries: Iterable[ConsentEntry], now: datetime
) -> dict[tuple[str, Channel], ConsentDecision]:
    """The answer now per (purpose, channel) the entries are about, whoever of a group
    of customers they were recorded for: the newest decision wins."""
    by_subject: dict[tuple[str, Channel], list[ConsentEntry]] = {}
    for entry in entries:
        if entry.channel is not None:
            by_subject.setdefault((entry.purpose, entry.channel), []).append(entry)
    return {subject: decide(current_state(e, now).entry) for subject, e in by_subject.items()}
