"""Protobuf <-> domain values of the configuration: action groups, decision settings,
versions and the changes between two configurations."""

from __future__ import annotations

from rapport.decisioning.domain.config import ChangeType, ConfigChange, ConfigVersion
from rapport.decisioning.domain.model import ActionGroup, ActionGroupDraft
from rapport.decisioning.domain.policies import (
    ArbitrationDraft,
    ContactLimitDraft,
    ContextWeight,
    DecisionSettings,
    PriorityPart,
    SettingsDraft,
    SuppressionRuleDraft,
)
from rapport.decisioning.service_layer import commands
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.wellknowntypes import to_duration, to_timedelta

from .converters import (
    channel_from_proto,
    channel_to_proto,
    field_mask,
    outcome_type_from_proto,
    outcome_type_to_proto,
    timestamp,
)

_PROTO_PARTS = set(pb.PriorityPart.values()) - {pb.PRIORITY_PART_UNSPECIFIED}
_CHANGE_TYPES = {
    ChangeType.ADDED: pb.CONFIG_CHANGE_TYPE_ADDED,
    ChangeType.REMOVED: pb.CONFIG_CHANGE_TYPE_REMOVED,
    ChangeType.CHANGED: pb.CONFIG_CHANGE_TYPE_CHANGED,
}


# -- action groups ---------------------------------------------------------------------


def group_draft_from_proto(group: pb.ActionGroup) -> ActionGroupDraft:
    return ActionGroupDraft(
        display_name=group.display_name,
        description=group.description,
        issue=group.issue,
        eligibility=group.eligibility,
        applicability=group.applicability,
        suitability=group.suitability,
        lever=group.lever,
    )


def create_group_command(request: pb.CreateActionGroupRequest) -> commands.CreateActionGroup:
    return commands.CreateActionGroup(
        parent=request.parent,
        group_id=request.action_group_id,
        draft=group_draft_from_proto(request.action_group),
    )


def update_group_command(request: pb.UpdateActionGroupRequest) -> commands.UpdateActionGroup:
    return commands.UpdateActionGroup(
        name=request.action_group.name,
        draft=group_draft_from_proto(request.action_group),
        mask=field_mask(request.action_group, request.update_mask),
    )


def group_to_proto(group: ActionGroup) -> pb.ActionGroup:
    return pb.ActionGroup(
        name=group.name,
        display_name=group.display_name,
        description=group.description,
        issue=group.issue,
        eligibility=group.eligibility,
        applicability=group.applicability,
        suitability=group.suitability,
        lever=group.lever,
        create_time=timestamp(group.create_time),
        update_time=timestamp(group.update_time),
    )


# -- decision settings -----------------------------------------------------------------


def _part_from_proto(value: int) -> PriorityPart | None:
    if value not in _PROTO_PARTS:
        return None
    return PriorityPart[pb.PriorityPart.Name(value).removeprefix("PRIORITY_PART_")]


def _part_to_proto(part: PriorityPart) -> int:
    return pb.PriorityPart.Value(f"PRIORITY_PART_{part.name}")


def settings_draft_from_proto(settings: pb.DecisionSettings) -> SettingsDraft:
    field = "decision_settings"
    return SettingsDraft(
        contact_limits=[
            ContactLimitDraft(
                channels=[channel_from_proto(c) for c in limit.channels],
                purposes=list(limit.purposes),
                max_contacts=limit.max_contacts,
                period=to_timedelta(
                    limit, "period", field_path=f"{field}.contact_limits[{i}].period"
                ),
            )
            for i, limit in enumerate(settings.contact_limits)
        ],
        suppression_rules=[
            SuppressionRuleDraft(
                outcome_type=outcome_type_from_proto(rule.outcome_type),
                outcome_count=rule.outcome_count,
                window=to_timedelta(
                    rule, "window", field_path=f"{field}.suppression_rules[{i}].window"
                ),
                duration=to_timedelta(
                    rule, "duration", field_path=f"{field}.suppression_rules[{i}].duration"
                ),
                tags=list(rule.tags),
            )
            for i, rule in enumerate(settings.suppression_rules)
        ],
        arbitration=ArbitrationDraft(
            priority_parts=[_part_from_proto(p) for p in settings.arbitration.priority_parts],
            context_weights=[
                ContextWeight(w.condition, w.weight) for w in settings.arbitration.context_weights
            ],
        ),
    )


def update_settings_command(
    request: pb.UpdateDecisionSettingsRequest,
) -> commands.UpdateDecisionSettings:
    return commands.UpdateDecisionSettings(
        name=request.decision_settings.name,
        draft=settings_draft_from_proto(request.decision_settings),
        mask=field_mask(request.decision_settings, request.update_mask),
    )


def settings_to_proto(name: str, settings: DecisionSettings) -> pb.DecisionSettings:
    return pb.DecisionSettings(
        name=name,
        contact_limits=[
            pb.ContactLimit(
                channels=[channel_to_proto(c) for c in limit.channels],
                purposes=list(limit.purposes),
                max_contacts=limit.max_contacts,
                period=to_duration(limit.period),
            )
            for limit in settings.contact_limits
        ],
        suppression_rules=[
            pb.SuppressionRule(
                outcome_type=outcome_type_to_proto(rule.outcome_type),
                outcome_count=rule.outcome_count,
                window=to_duration(rule.window),
                duration=to_duration(rule.duration),
                tags=list(rule.tags),
            )
            for rule in settings.suppression_rules
        ],
        arbitration=pb.ArbitrationSettings(
            priority_parts=[_part_to_proto(p) for p in settings.arbitration.priority_parts],
            context_weights=[
                pb.ContextWeight(condition=w.condition, weight=w.weight)
                for w in settings.arbitration.context_weights
            ],
        ),
        update_time=timestamp(settings.update_time),
    )


# -- versions and changes ----------------------------------------------------------------


def version_to_proto(version: ConfigVersion) -> pb.DecisionConfigVersion:
    return pb.DecisionConfigVersion(
        name=version.name,
        description=version.description,
        live=version.live,
        source_version=version.source_version_name,
        action_count=version.action_count,
        action_group_count=version.group_count,
        trigger_count=version.trigger_count,
        create_time=timestamp(version.create_time),
    )


def changes_to_proto(changes: list[ConfigChange]) -> list[pb.ConfigChange]:
    return [
        pb.ConfigChange(
            item=change.item, change_type=_CHANGE_TYPES[change.change_type], fields=change.fields
        )
        for change in changes
    ]
