"""A workspace's decision settings: contact limits, suppression rules, arbitration."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .model import Action, Channel, OutcomeType


class PriorityPart(enum.Enum):
    """A factor of an action's priority; the values are the catalogue file's spelling."""

    PROPENSITY = "propensity"
    CONTEXT_WEIGHT = "context_weight"
    VALUE = "value"
    LEVER = "lever"


ALL_PRIORITY_PARTS = tuple(PriorityPart)


def _period(value: timedelta) -> str:
    days, rest = divmod(value, timedelta(days=1))
    if not rest:
        return f"{days} day{'s' if days != 1 else ''}"
    return str(value)


@dataclass(frozen=True)
class ContactLimit:
    """At most `max_contacts` contacts on `channels` for `purposes` (empty: any) per period."""

    channels: tuple[Channel, ...]
    purposes: tuple[str, ...]
    max_contacts: int
    period: timedelta

    def counts(self, channel: Channel, purpose: str) -> bool:
        """Whether a contact on this channel for this purpose counts against the limit."""
        return channel in self.channels and (not self.purposes or purpose in self.purposes)

    def describe(self) -> str:
        channels = "/".join(c.value for c in self.channels)
        purposes = "/".join(self.purposes) if self.purposes else "any purpose"
        return (
            f"at most {self.max_contacts} {purposes} contact(s) on {channels} "
            f"in {_period(self.period)}"
        )


@dataclass(frozen=True)
class SuppressionRule:
    """`outcome_count` outcomes of a type within `window` suppress an action for `duration`."""

    outcome_type: OutcomeType
    outcome_count: int
    window: timedelta
    duration: timedelta
    # Only actions with one of these tags; empty means every action.
    tags: tuple[str, ...] = ()

    def applies_to(self, action: Action) -> bool:
        return not self.tags or any(tag in self.tags for tag in action.tags)

    def describe(self) -> str:
        return (
            f"{self.outcome_count} {self.outcome_type.value}(s) within {_period(self.window)} "
            f"suppress it for {_period(self.duration)}"
        )


@dataclass(frozen=True)
class ContextWeight:
    condition: str
    weight: float


@dataclass(frozen=True)
class ArbitrationSettings:
    # The parts multiplied into the priority; the others count as 1.
    priority_parts: tuple[PriorityPart, ...] = ALL_PRIORITY_PARTS
    context_weights: tuple[ContextWeight, ...] = ()


MARKETING = "marketing"
WEEK = timedelta(days=7)
DEFAULT_CONTACT_LIMITS = (
    ContactLimit((Channel.EMAIL,), (MARKETING,), 1, WEEK),
    ContactLimit((Channel.SMS,), (MARKETING,), 1, WEEK),
)


@dataclass(frozen=True)
class DecisionSettings:
    """Contact policies and arbitration of a workspace; the defaults until changed."""

    contact_limits: tuple[ContactLimit, ...] = DEFAULT_CONTACT_LIMITS
    suppression_rules: tuple[SuppressionRule, ...] = ()
    arbitration: ArbitrationSettings = ArbitrationSettings()
    # None while the defaults were never changed.
    update_time: datetime | None = None

    @property
    def contact_lookback(self) -> timedelta:
        """How far back contacts matter to the limits."""
        return max((limit.period for limit in self.contact_limits), default=timedelta(0))

    @property
    def outcome_lookback(self) -> timedelta:
        """How far back outcomes matter to the suppression rules."""
        return max(
            (rule.window + rule.duration for rule in self.suppression_rules),
            default=timedelta(0),
        )


# -- drafts (before validation) -------------------------------------------------------


@dataclass(frozen=True)
class ContactLimitDraft:
    # None for an unspecified or unknown channel.
    channels: Sequence[Channel | None] = ()
    purposes: Sequence[str] = ()
    max_contacts: int = 0
    period: timedelta | None = None


@dataclass(frozen=True)
class SuppressionRuleDraft:
    # None when unspecified or unknown.
    outcome_type: OutcomeType | None = None
    outcome_count: int = 0
    window: timedelta | None = None
    duration: timedelta | None = None
    tags: Sequence[str] = ()


@dataclass(frozen=True)
class ArbitrationDraft:
    # None for an unspecified or unknown part; empty means all parts.
    priority_parts: Sequence[PriorityPart | None] = ()
    context_weights: Sequence[ContextWeight] = ()


@dataclass(frozen=True)
class SettingsDraft:
    contact_limits: Sequence[ContactLimitDraft] = field(
        default_factory=lambda: [
            ContactLimitDraft(limit.channels, limit.purposes, limit.max_contacts, limit.period)
            for limit in DEFAULT_CONTACT_LIMITS
        ]
    )
    suppression_rules: Sequence[SuppressionRuleDraft] = ()
    arbitration: ArbitrationDraft = ArbitrationDraft()


def settings_draft(settings: DecisionSettings) -> SettingsDraft:
    """The settings as a draft (what UpdateDecisionSettings edits)."""
    return SettingsDraft(
        contact_limits=[
            ContactLimitDraft(limit.channels, limit.purposes, limit.max_contacts, limit.period)
            for limit in settings.contact_limits
        ],
        suppression_rules=[
            SuppressionRuleDraft(r.outcome_type, r.outcome_count, r.window, r.duration, r.tags)
            for r in settings.suppression_rules
        ],
        arbitration=ArbitrationDraft(
            priority_parts=list(settings.arbitration.priority_parts),
            context_weights=list(settings.arbitration.context_weights),
        ),
    )
