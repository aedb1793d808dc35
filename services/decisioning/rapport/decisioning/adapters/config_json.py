"""Stored JSON of configuration items: published versions (whole configurations) and the
draft's settings.

Read back as stored, without validation: a version published under one release
must stay usable however validation tightens later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.model import (
    Action,
    ActionGroup,
    Channel,
    MessageContent,
    OutcomeType,
    Treatment,
    Trigger,
)
from rapport.decisioning.domain.policies import (
    ArbitrationSettings,
    ContactLimit,
    ContextWeight,
    DecisionSettings,
    PriorityPart,
    SuppressionRule,
)
from rapport.decisioning.domain.signals import trigger_spec, trigger_spec_fields


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def content_to_json(content: MessageContent) -> list[str]:
    return [content.subject, content.text_body, content.html_body]


def content_from_json(value: list[str]) -> MessageContent:
    return MessageContent(*value)


def treatments_to_json(treatments: tuple[Treatment, ...]) -> list[Any]:
    return [[t.channel.value, content_to_json(t.content)] for t in treatments if t.channel]


def treatments_from_json(value: list[Any] | None) -> tuple[Treatment, ...]:
    return tuple(Treatment(Channel(c), content_from_json(content)) for c, content in value or ())


def action_to_json(action: Action) -> dict[str, Any]:
    return {
        "id": action.action_id,
        "display_name": action.display_name,
        "description": action.description,
        "channels": [c.value for c in action.channels],
        "purpose": action.purpose,
        "value": action.value,
        "lever": action.lever,
        "base_propensity": action.base_propensity,
        "eligibility": action.eligibility,
        "applicability": action.applicability,
        "suitability": action.suitability,
        "content": content_to_json(action.content),
        "start_time": _time(action.start_time),
        "end_time": _time(action.end_time),
        "group": action.group_id,
        "treatments": treatments_to_json(action.treatments),
        "tags": list(action.tags),
        "create_time": _time(action.create_time),
        "update_time": _time(action.update_time),
    }


def action_from_json(workspace: str, item: dict[str, Any]) -> Action:
    return Action(
        workspace=workspace,
        action_id=item["id"],
        display_name=item["display_name"],
        description=item["description"],
        channels=tuple(Channel(c) for c in item["channels"]),
        purpose=item["purpose"],
        value=item["value"],
        lever=item["lever"],
        base_propensity=item["base_propensity"],
        eligibility=item["eligibility"],
        applicability=item["applicability"],
        suitability=item["suitability"],
        content=content_from_json(item["content"]),
        start_time=_from_time(item["start_time"]),
        end_time=_from_time(item["end_time"]),
        group_id=item["group"],
        treatments=treatments_from_json(item["treatments"]),
        tags=tuple(item["tags"]),
        create_time=_from_time(item["create_time"]),  # type: ignore[arg-type]
        update_time=_from_time(item["update_time"]),
    )


_GROUP_TEXT = (
    "display_name",
    "description",
    "issue",
    "eligibility",
    "applicability",
    "suitability",
)


def group_to_json(group: ActionGroup) -> dict[str, Any]:
    return {
        "id": group.group_id,
        **{key: getattr(group, key) for key in _GROUP_TEXT},
        "lever": group.lever,
        "create_time": _time(group.create_time),
        "update_time": _time(group.update_time),
    }


def group_from_json(workspace: str, item: dict[str, Any]) -> ActionGroup:
    return ActionGroup(
        workspace=workspace,
        group_id=item["id"],
        lever=item["lever"],
        create_time=_from_time(item["create_time"]),  # type: ignore[arg-type]
        update_time=_from_time(item["update_time"]),
        **{key: item[key] for key in _GROUP_TEXT},
    )


def trigger_to_json(trigger: Trigger) -> dict[str, Any]:
    return {
        "id": trigger.trigger_id,
        "event_name": trigger.event_name,
        "condition": trigger.condition,
        "action": trigger.action_id,
        "channel": trigger.channel.value,
        "create_time": _time(trigger.create_time),
        "update_time": _time(trigger.update_time),
        **({"spec": spec} if (spec := trigger_spec(trigger)) else {}),
    }


def trigger_from_json(workspace: str, item: dict[str, Any]) -> Trigger:
    return Trigger(
        workspace=workspace,
        trigger_id=item["id"],
        event_name=item["event_name"],
        condition=item["condition"],
        action_id=item["action"],
        channel=Channel(item["channel"]),
        create_time=_from_time(item["create_time"]),  # type: ignore[arg-type]
        update_time=_from_time(item["update_time"]),
        # Versions published before 0005 hold event triggers only.
        **trigger_spec_fields(item.get("spec")),
    )


def settings_to_json(settings: DecisionSettings) -> dict[str, Any]:
    return {
        "contact_limits": [
            [[c.value for c in limit.channels], list(limit.purposes), limit.max_contacts,
             limit.period.total_seconds()]
            for limit in settings.contact_limits
        ],
        "suppression_rules": [
            [rule.outcome_type.value, rule.outcome_count, rule.window.total_seconds(),
             rule.duration.total_seconds(), list(rule.tags)]
            for rule in settings.suppression_rules
        ],
        "priority_parts": [p.value for p in settings.arbitration.priority_parts],
        "context_weights": [[w.condition, w.weight] for w in settings.arbitration.context_weights],
        "update_time": _time(settings.update_time),
    }  # fmt: skip


def settings_from_json(item: dict[str, Any]) -> DecisionSettings:
    return DecisionSettings(
        contact_limits=tuple(
            ContactLimit(tuple(Channel(c) for c in channels), tuple(purposes), count,
                         timedelta(seconds=period))
            for channels, purposes, count, period in item["contact_limits"]
        ),
        suppression_rules=tuple(
            SuppressionRule(OutcomeType(kind), count, timedelta(seconds=window),
                            timedelta(seconds=duration), tuple(tags))
            for kind, count, window, duration, tags in item["suppression_rules"]
        ),
        arbitration=ArbitrationSettings(
            priority_parts=tuple(PriorityPart(p) for p in item["priority_parts"]),
            context_weights=tuple(ContextWeight(c, w) for c, w in item["context_weights"]),
        ),
        update_time=_from_time(item["update_time"]),
    )  # fmt: skip


def config_to_json(config: DecisionConfig) -> dict[str, Any]:
    return {
        "settings": settings_to_json(config.settings),
        "groups": [group_to_json(g) for g in config.groups],
        "actions": [action_to_json(a) for a in config.actions],
        "triggers": [trigger_to_json(t) for t in config.triggers],
    }


def config_from_json(workspace: str, version: int, item: dict[str, Any]) -> DecisionConfig:
    return DecisionConfig(
        workspace=workspace,
        actions=tuple(action_from_json(workspace, a) for a in item["actions"]),
        groups=tuple(group_from_json(workspace, g) for g in item["groups"]),
        triggers=tuple(trigger_from_json(workspace, t) for t in item["triggers"]),
        settings=settings_from_json(item["settings"]),
        version=version,
    )
