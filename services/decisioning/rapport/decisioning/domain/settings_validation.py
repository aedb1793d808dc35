"""Validation of decision settings (contact limits, suppression rules, arbitration), shared
by UpdateDecisionSettings and the YAML import; `field` is where the settings are."""

from __future__ import annotations

from datetime import timedelta

from rapport.errors import InvalidArgument

from .checks import CHANNEL_NAMES, MAX_TAGS, finite, validate_labels, validate_rule
from .model import Channel
from .policies import (
    ALL_PRIORITY_PARTS,
    ArbitrationDraft,
    ArbitrationSettings,
    ContactLimit,
    ContactLimitDraft,
    ContextWeight,
    DecisionSettings,
    SettingsDraft,
    SuppressionRule,
    SuppressionRuleDraft,
)
from .rules import RuleBook

MAX_CONTACT_LIMITS = 50
MAX_SUPPRESSION_RULES = 50
MAX_CONTEXT_WEIGHTS = 100
MAX_CONTACTS = 1000
MAX_OUTCOME_COUNT = 1000
MAX_WEIGHT = 1e6
SHORTEST_PERIOD = timedelta(minutes=1)
LONGEST_PERIOD = timedelta(days=366)


def _period(value: timedelta | None, field: str) -> timedelta:
    if value is None:
        raise InvalidArgument(field, "is required")
    if not SHORTEST_PERIOD <= value <= LONGEST_PERIOD:
        raise InvalidArgument(field, "must be from 1 minute to 366 days")
    if value.microseconds:
        raise InvalidArgument(field, "must be a whole number of seconds")
    return value


def _count(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidArgument(field, f"must be from {low} to {high}")
    return value


def _limit(draft: ContactLimitDraft, field: str) -> ContactLimit:
    if not draft.channels:
        raise InvalidArgument(f"{field}.channels", "at least one channel is required")
    channels: list[Channel] = []
    for index, channel in enumerate(draft.channels):
        where = f"{field}.channels[{index}]"
        if channel is None:
            raise InvalidArgument(where, f"must be one of {CHANNEL_NAMES}")
        if not channel.can_be_sent:
            raise InvalidArgument(where, "inbound actions are shown, not sent: never a contact")
        if channel in channels:
            raise InvalidArgument(where, f"{channel.value} is listed twice")
        channels.append(channel)
    return ContactLimit(
        channels=tuple(channels),
        purposes=validate_labels(draft.purposes, f"{field}.purposes", MAX_TAGS),
        max_contacts=_count(draft.max_contacts, f"{field}.max_contacts", 0, MAX_CONTACTS),
        period=_period(draft.period, f"{field}.period"),
    )


def _suppression(draft: SuppressionRuleDraft, field: str) -> SuppressionRule:
    if draft.outcome_type is None:
        raise InvalidArgument(f"{field}.outcome_type", "is required (a known outcome type)")
    return SuppressionRule(
        outcome_type=draft.outcome_type,
        outcome_count=_count(draft.outcome_count, f"{field}.outcome_count", 1, MAX_OUTCOME_COUNT),
        window=_period(draft.window, f"{field}.window"),
        duration=_period(draft.duration, f"{field}.duration"),
        tags=validate_labels(draft.tags, f"{field}.tags", MAX_TAGS),
    )


def _arbitration(draft: ArbitrationDraft, rules: RuleBook, field: str) -> ArbitrationSettings:
    parts = []
    for index, part in enumerate(draft.priority_parts):
        where = f"{field}.priority_parts[{index}]"
        if part is None:
            names = ", ".join(p.value for p in ALL_PRIORITY_PARTS)
            raise InvalidArgument(where, f"must be one of {names}")
        if part in parts:
            raise InvalidArgument(where, f"{part.value} is listed twice")
        parts.append(part)
    if len(draft.context_weights) > MAX_CONTEXT_WEIGHTS:
        raise InvalidArgument(
            f"{field}.context_weights", f"at most {MAX_CONTEXT_WEIGHTS} are allowed"
        )
    weights = []
    for index, weight in enumerate(draft.context_weights):
        where = f"{field}.context_weights[{index}]"
        if not weight.condition.strip():
            raise InvalidArgument(f"{where}.condition", "is required")
        condition = validate_rule(rules, weight.condition, f"{where}.condition")
        if not 0 <= finite(weight.weight, f"{where}.weight") <= MAX_WEIGHT:
            raise InvalidArgument(f"{where}.weight", f"must be from 0 to {MAX_WEIGHT:g}")
        weights.append(ContextWeight(condition, weight.weight))
    # Ordered as the enum, so that equal settings compare equal however they were listed.
    ordered = tuple(p for p in ALL_PRIORITY_PARTS if p in parts) if parts else ALL_PRIORITY_PARTS
    return ArbitrationSettings(priority_parts=ordered, context_weights=tuple(weights))


def validate_settings(
    draft: SettingsDraft, rules: RuleBook, field: str = "decision_settings"
) -> DecisionSettings:
    if len(draft.contact_limits) > MAX_CONTACT_LIMITS:
        raise InvalidArgument(
            f"{field}.contact_limits", f"at most {MAX_CONTACT_LIMITS} are allowed"
        )
    if len(draft.suppression_rules) > MAX_SUPPRESSION_RULES:
        raise InvalidArgument(
            f"{field}.suppression_rules", f"at most {MAX_SUPPRESSION_RULES} are allowed"
        )
    return DecisionSettings(
        contact_limits=tuple(
            _limit(limit, f"{field}.contact_limits[{index}]")
            for index, limit in enumerate(draft.contact_limits)
        ),
        suppression_rules=tuple(
            _suppression(rule, f"{field}.suppression_rules[{index}]")
            for index, rule in enumerate(draft.suppression_rules)
        ),
        arbitration=_arbitration(draft.arbitration, rules, f"{field}.arbitration"),
    )
