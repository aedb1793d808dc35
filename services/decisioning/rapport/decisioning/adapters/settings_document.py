"""The `settings` section of a configuration document: read into a draft, written from
DecisionSettings."""

from __future__ import annotations

from typing import Any

from rapport.decisioning.domain.model import Channel, OutcomeType
from rapport.decisioning.domain.policies import (
    ALL_PRIORITY_PARTS,
    ArbitrationDraft,
    ContactLimitDraft,
    ContextWeight,
    DecisionSettings,
    PriorityPart,
    SettingsDraft,
    SuppressionRuleDraft,
)

from . import yaml_document as doc

_SETTINGS_KEYS = {"contact_limits", "suppression_rules", "arbitration"}
_LIMIT_KEYS = {"channels", "purposes", "max_contacts", "period"}
_SUPPRESSION_KEYS = {"outcome_type", "outcome_count", "window", "duration", "tags"}
_ARBITRATION_KEYS = {"priority_parts", "context_weights"}
_WEIGHT_KEYS = {"condition", "weight"}


def _enum(enum_type: Any, value: Any) -> Any:
    try:
        return enum_type(value)
    except (ValueError, TypeError):  # unknown, or not even hashable (a list...)
        return None


def _limit(entry: Any, path: str) -> ContactLimitDraft:
    limit = doc.mapping(entry, path)
    doc.check_keys(limit, _LIMIT_KEYS, path)
    return ContactLimitDraft(
        channels=[_enum(Channel, c) for c in doc.items(limit, "channels", path)],
        purposes=doc.strings(limit, "purposes", path),
        max_contacts=doc.integer(limit, "max_contacts", path),
        period=doc.duration(limit, "period", path),
    )


def _suppression(entry: Any, path: str) -> SuppressionRuleDraft:
    rule = doc.mapping(entry, path)
    doc.check_keys(rule, _SUPPRESSION_KEYS, path)
    return SuppressionRuleDraft(
        outcome_type=_enum(OutcomeType, rule.get("outcome_type")),
        outcome_count=doc.integer(rule, "outcome_count", path),
        window=doc.duration(rule, "window", path),
        duration=doc.duration(rule, "duration", path),
        tags=doc.strings(rule, "tags", path),
    )


def _weight(entry: Any, path: str) -> ContextWeight:
    weight = doc.mapping(entry, path)
    doc.check_keys(weight, _WEIGHT_KEYS, path)
    return ContextWeight(doc.string(weight, "condition", path), doc.number(weight, "weight", path))


def parse_settings(value: Any, path: str) -> SettingsDraft:
    """The draft of a `settings` mapping; a key left out keeps its default."""
    settings = doc.mapping(value, path)
    doc.check_keys(settings, _SETTINGS_KEYS, path)
    default = SettingsDraft()
    arbitration = doc.optional_mapping(settings, "arbitration", path)
    at_arbitration = doc.at(path, "arbitration")
    doc.check_keys(arbitration, _ARBITRATION_KEYS, at_arbitration)
    return SettingsDraft(
        contact_limits=[
            _limit(e, f"{path}.contact_limits[{i}]")
            for i, e in enumerate(doc.items(settings, "contact_limits", path))
        ]
        if "contact_limits" in settings
        else default.contact_limits,
        suppression_rules=[
            _suppression(e, f"{path}.suppression_rules[{i}]")
            for i, e in enumerate(doc.items(settings, "suppression_rules", path))
        ],
        arbitration=ArbitrationDraft(
            priority_parts=[
                _enum(PriorityPart, p)
                for p in doc.items(arbitration, "priority_parts", at_arbitration)
            ],
            context_weights=[
                _weight(e, f"{at_arbitration}.context_weights[{i}]")
                for i, e in enumerate(doc.items(arbitration, "context_weights", at_arbitration))
            ],
        ),
    )


def settings_document(settings: DecisionSettings) -> dict[str, Any]:
    """The `settings` mapping of a configuration document (read back by parse_settings)."""
    arbitration: dict[str, Any] = {}
    if settings.arbitration.priority_parts != ALL_PRIORITY_PARTS:
        arbitration["priority_parts"] = [p.value for p in settings.arbitration.priority_parts]
    if settings.arbitration.context_weights:
        arbitration["context_weights"] = [
            {"condition": w.condition, "weight": w.weight}
            for w in settings.arbitration.context_weights
        ]
    document: dict[str, Any] = {
        "contact_limits": [
            {
                "channels": [c.value for c in limit.channels],
                "purposes": list(limit.purposes),
                "max_contacts": limit.max_contacts,
                "period": doc.duration_text(limit.period),
            }
            for limit in settings.contact_limits
        ]
    }
    if settings.suppression_rules:
        document["suppression_rules"] = [
            {
                "outcome_type": rule.outcome_type.value,
                "outcome_count": rule.outcome_count,
                "window": doc.duration_text(rule.window),
                "duration": doc.duration_text(rule.duration),
                "tags": list(rule.tags),
            }
            for rule in settings.suppression_rules
        ]
    if arbitration:
        document["arbitration"] = arbitration
    return document
