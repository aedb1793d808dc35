"""The contact-policy step: suppression rules over recorded outcomes, contact limits over
the customer's recent contacts."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .engagement import Candidate
from .model import Action, Channel, ExcludedAction, ExclusionReason, OutcomeType
from .policies import ContactLimit, DecisionSettings, SuppressionRule


@dataclass(frozen=True)
class Contact:
    """An action returned or sent on a channel that sends, counted against the limits."""

    channel: Channel
    purpose: str
    action: str
    time: datetime
    decision_id: str = ""


@dataclass(frozen=True)
class PastOutcome:
    action: str
    type: OutcomeType
    time: datetime


def counts_as_contact(channel: Channel) -> bool:
    # Shown on the inbound channel that asked: the customer came to us.
    return channel.can_be_sent


def _send_of(contact: Contact) -> object:
    """What a limit counts once: one decision's send of one action, even while it holds
    a contact on each channel offered to delivery (best channel)."""
    # Without a decision (stored before decisions named their contacts): each counts.
    return (contact.decision_id, contact.action) if contact.decision_id else object()


class ContactBudget:
    """How many more contacts each limit allows one customer at one moment."""

    def __init__(
        self, limits: Sequence[ContactLimit], history: Iterable[Contact], now: datetime
    ) -> None:
        self._limits = tuple(limits)
        recent = list(history)
        self._used = [
            len(
                {
                    _send_of(contact)
                    for contact in recent
                    # Later than now too: another replica's clock may run ahead.
                    if contact.time > now - limit.period
                    and limit.counts(contact.channel, contact.purpose)
                }
            )
            for limit in self._limits
        ]

    @property
    def unlimited(self) -> bool:
        """No limit at all: every channel always open."""
        return not self._limits

    def blocking(self, channel: Channel, purpose: str) -> ContactLimit | None:
        """A limit one more such contact would exceed; None when it is allowed."""
        if not counts_as_contact(channel):
            return None
        for used, limit in zip(self._used, self._limits, strict=True):
            if limit.counts(channel, purpose) and used + 1 > limit.max_contacts:
                return limit
        return None

    def take(self, channel: Channel, purpose: str) -> None:
        if not counts_as_contact(channel):
            return
        for index, limit in enumerate(self._limits):
            if limit.counts(channel, purpose):
                self._used[index] += 1


def suppressed_until(
    action: Action,
    rules: Sequence[SuppressionRule],
    outcomes: Sequence[PastOutcome],
    now: datetime,
) -> tuple[SuppressionRule, datetime] | None:
    """The rule suppressing the action now and until when; None when none does.

    A rule suppresses from the moment its count is reached within its window until
    `duration` after it: the latest such moment decides.
    """
    for rule in rules:
        if not rule.applies_to(action):
            continue
        times = sorted(
            o.time
            for o in outcomes
            if o.action == action.name and o.type is rule.outcome_type and o.time <= now
        )
        for index in range(len(times) - 1, -1, -1):
            moment = times[index]
            if moment + rule.duration <= now:
                break  # every earlier moment ends its suppression even sooner
            in_window = index + 1 - bisect.bisect_right(times, moment - rule.window)
            if in_window >= rule.outcome_count:
                return rule, moment + rule.duration
    return None


def _limit_text(blocked: Sequence[tuple[Channel, ContactLimit]]) -> str:
    return "; ".join(f"{channel.value}: {limit.describe()}" for channel, limit in blocked)


def restrict(
    candidates: Sequence[Candidate],
    settings: DecisionSettings,
    budget: ContactBudget,
    outcomes: Sequence[PastOutcome],
    now: datetime,
) -> tuple[list[Candidate], list[ExcludedAction]]:
    """Candidates on the channels their limits leave open; the suppressed and the
    limited-out excluded with the rule or limit in words."""
    if budget.unlimited and not settings.suppression_rules:
        return list(candidates), []  # nothing can hold a candidate back
    kept: list[Candidate] = []
    excluded: list[ExcludedAction] = []
    for candidate in candidates:
        action = candidate.action
        suppression = suppressed_until(action, settings.suppression_rules, outcomes, now)
        if suppression is not None:
            rule, until = suppression
            text = f"Suppressed until {until.isoformat()}: {rule.describe()}."
            excluded.append(ExcludedAction(action.name, ExclusionReason.SUPPRESSED, text))
            continue
        open_channels: list[Channel] = []
        blocked: list[tuple[Channel, ContactLimit]] = []
        for channel in candidate.channels:
            limit = budget.blocking(channel, action.purpose)
            if limit is None:
                open_channels.append(channel)
            else:
                blocked.append((channel, limit))
        if not open_channels:
            text = f"Contact limit reached: {_limit_text(blocked)}."
            excluded.append(ExcludedAction(action.name, ExclusionReason.CONTACT_LIMIT, text))
            continue
        notes = candidate.notes
        if blocked:
            notes = (*notes, f"contact limit reached on {_limit_text(blocked)}")
        if not blocked:
            kept.append(candidate)  # every channel still open: nothing to change
        else:
            kept.append(dataclasses.replace(candidate, channels=tuple(open_channels), notes=notes))
    return kept, excluded
