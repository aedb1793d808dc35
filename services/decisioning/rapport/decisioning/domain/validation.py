"""Validation of actions, action groups and triggers, shared by the RPCs and the YAML import.

Field paths differ between the two (``action.purpose`` in a request,
``actions[2].purpose`` in a file), so each check takes the path to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from rapport.errors import InvalidArgument

from . import names
from .checks import (
    CHANNEL_NAMES,
    MAX_EVENT_NAME_CHARS,
    MAX_TAGS,
    MAX_TEXT_CHARS,
    ActionFields,
    Fields,
    GroupFields,
    TriggerFields,
    amount,
    finite,
    is_event_name,
    text,
    validate_channels,
    validate_label,
    validate_labels,
    validate_purpose,
    validate_resource_id,
    validate_rule,
    validate_template,
)
from .model import (
    Action,
    ActionDraft,
    ActionGroup,
    ActionGroupDraft,
    Channel,
    MessageContent,
    Treatment,
    Trigger,
    TriggerDraft,
    TriggerKind,
)
from .rules import CONDITION_VARIABLES, RuleBook

MAX_LIFE_STAGE_CHARS = 64
MAX_TRAIT_KEY_CHARS = 256
MAX_OFFSET_DAYS = 3_660
MAX_YEARS_AFTER = 150
MIN_THROTTLE = timedelta(minutes=1)
MAX_THROTTLE = timedelta(days=366)

DEFAULT_LEVER = 1.0
DEFAULT_PROPENSITY = 0.5

__all__ = [
    "ActionFields",
    "GroupFields",
    "TriggerFields",
    "is_event_name",
    "validate_action",
    "validate_group",
    "validate_label",
    "validate_resource_id",
    "validate_trigger",
]


def _lever(value: float, field: str) -> float:
    if amount(value, field) < 0:
        raise InvalidArgument(field, "must not be negative (0 means 1)")
    return value or DEFAULT_LEVER


def _content(content: MessageContent, field: str) -> MessageContent:
    for part in ("subject", "text_body", "html_body"):
        validate_template(getattr(content, part), f"{field}.{part}")
    return MessageContent(content.subject, content.text_body, content.html_body)


def _treatments(
    treatments: Sequence[Treatment], channels: tuple[Channel, ...], f: Fields
) -> tuple[Treatment, ...]:
    valid: list[Treatment] = []
    for index, treatment in enumerate(treatments):
        where = f(f"treatments[{index}]")
        channel = treatment.channel
        if channel is None:
            raise InvalidArgument(f"{where}.channel", f"must be one of {CHANNEL_NAMES}")
        if channel not in channels:
            raise InvalidArgument(f"{where}.channel", "must be one of the action's channels")
        if any(t.channel is channel for t in valid):
            raise InvalidArgument(f"{where}.channel", f"{channel.value} has a treatment already")
        valid.append(Treatment(channel, _content(treatment.content, f"{where}.content")))
    return tuple(valid)


def _require_content(action: Action, f: Fields) -> None:
    """Each messaging channel has a subject (email) and a text body, from its treatment or
    from the default content."""
    for channel in action.channels:
        index = next((i for i, t in enumerate(action.treatments) if t.channel is channel), None)
        where = f("content") if index is None else f(f"treatments[{index}].content")
        content = action.content_for(channel)
        if channel is Channel.EMAIL and not content.subject.strip():
            raise InvalidArgument(f"{where}.subject", "is required for the email channel")
        if channel.needs_text_body and not content.text_body.strip():
            raise InvalidArgument(
                f"{where}.text_body", f"is required for the {channel.value} channel"
            )


def validate_action(
    workspace: str,
    action_id: str,
    draft: ActionDraft,
    rules: RuleBook,
    *,
    create_time: datetime,
    fields: Fields | None = None,
    group: ActionGroup | None = None,
    update_time: datetime | None = None,
) -> Action:
    """The action with its defaults applied, or InvalidArgument naming the first bad field.

    `group` is the group `draft.group_id` names, None when there is no such group.
    """
    f = fields or ActionFields()
    validate_resource_id(action_id, f.item_id)
    text(draft.display_name, f("display_name"), MAX_TEXT_CHARS)
    text(draft.description, f("description"), MAX_TEXT_CHARS)
    channels = validate_channels(draft.channels, f("channels"))
    purpose = validate_purpose(draft.purpose, f("purpose"))
    if draft.group_id and group is None:
        raise InvalidArgument(f("group"), "no such action group")
    tags = validate_labels(draft.tags, f("tags"), MAX_TAGS)

    value = amount(draft.value, f("value"))
    if value <= 0:
        raise InvalidArgument(f("value"), "must be positive")
    lever = _lever(draft.lever, f("lever"))
    propensity = finite(draft.base_propensity, f("base_propensity"))
    if not 0 <= propensity <= 1:
        raise InvalidArgument(f("base_propensity"), "must be between 0 and 1 (0 means 0.5)")

    engagement = {
        kind: validate_rule(rules, getattr(draft, kind), f(kind))
        for kind in ("eligibility", "applicability", "suitability")
    }
    if (
        draft.start_time is not None
        and draft.end_time is not None
        and not draft.start_time < draft.end_time
    ):
        raise InvalidArgument(f("end_time"), "must be after start_time")

    action = Action(
        workspace=workspace,
        action_id=action_id,
        display_name=draft.display_name,
        description=draft.description,
        channels=channels,
        purpose=purpose,
        value=value,
        lever=lever,
        base_propensity=propensity or DEFAULT_PROPENSITY,
        content=_content(draft.content, f("content")),
        start_time=draft.start_time,
        end_time=draft.end_time,
        create_time=create_time,
        group_id=draft.group_id,
        treatments=_treatments(draft.treatments, channels, f),
        tags=tags,
        update_time=update_time,
        **engagement,
    )
    _require_content(action, f)
    return action


def validate_group(
    workspace: str,
    group_id: str,
    draft: ActionGroupDraft,
    rules: RuleBook,
    *,
    create_time: datetime,
    fields: Fields | None = None,
    update_time: datetime | None = None,
) -> ActionGroup:
    f = fields or GroupFields()
    validate_resource_id(group_id, f.item_id)
    text(draft.display_name, f("display_name"), MAX_TEXT_CHARS)
    text(draft.description, f("description"), MAX_TEXT_CHARS)
    if draft.issue:
        validate_label(draft.issue, f("issue"))
    engagement = {
        kind: validate_rule(rules, getattr(draft, kind), f(kind))
        for kind in ("eligibility", "applicability", "suitability")
    }
    return ActionGroup(
        workspace=workspace,
        group_id=group_id,
        display_name=draft.display_name,
        description=draft.description,
        issue=draft.issue,
        lever=_lever(draft.lever, f("lever")),
        create_time=create_time,
        update_time=update_time,
        **engagement,
    )


def validate_trigger(
    workspace: str,
    trigger_id: str,
    draft: TriggerDraft,
    action: Action | None,
    rules: RuleBook,
    *,
    create_time: datetime,
    fields: Fields | None = None,
    update_time: datetime | None = None,
) -> Trigger:
    """The trigger, or InvalidArgument; `action` is the one the draft names, None if absent."""
    f = fields or TriggerFields()
    validate_resource_id(trigger_id, f.item_id)
    kind = draft.kind
    if kind is TriggerKind.EVENT:
        if not draft.event_name.strip():
            raise InvalidArgument(f("event_name"), "is required (the track event's name)")
        text(draft.event_name, f("event_name"), MAX_EVENT_NAME_CHARS)
    elif draft.event_name:
        raise InvalidArgument(f("event_name"), "is for EVENT triggers only")
    _validate_kind_fields(workspace, draft, f)
    condition = validate_rule(rules, draft.condition, f("condition"), CONDITION_VARIABLES)
    if not draft.action_id:
        raise InvalidArgument(f("action"), "is required")
    if action is None:
        raise InvalidArgument(f("action"), "no such action")
    channel = draft.channel
    if channel is None:
        raise InvalidArgument(f("channel"), f"must be one of {CHANNEL_NAMES}")
    if not channel.can_be_sent:
        raise InvalidArgument(f("channel"), "inbound actions are shown, not sent")
    if channel not in action.channels:
        offered = ", ".join(c.value for c in action.channels)
        raise InvalidArgument(f("channel"), f"must be one of the action's channels ({offered})")
    return Trigger(
        workspace=workspace,
        trigger_id=trigger_id,
        event_name=draft.event_name,
        condition=condition,
        action_id=draft.action_id,
        channel=channel,
        create_time=create_time,
        update_time=update_time,
        kind=kind,
        segment=draft.segment,
        life_stage=draft.life_stage,
        date_trait=draft.date_trait,
        offset_days=draft.offset_days,
        years_after=draft.years_after,
        throttle=draft.throttle,
        best_channel=draft.best_channel,
    )


def _validate_kind_fields(workspace: str, draft: TriggerDraft, f: Fields) -> None:
    """The fields of the trigger's kind set (and valid), the others' left empty."""
    kind = draft.kind
    segment_kind = kind in (TriggerKind.SEGMENT_ENTERED, TriggerKind.SEGMENT_EXITED)
    if segment_kind:
        if not draft.segment:
            raise InvalidArgument(f("segment"), "is required for segment triggers")
        parsed = names.parse_segment(draft.segment, f("segment"))
        names.require_same_workspace(parsed, workspace, f("segment"))
    elif draft.segment:
        raise InvalidArgument(f("segment"), "is for segment triggers only")
    if draft.life_stage:
        if kind is not TriggerKind.LIFE_STAGE_CHANGED:
            raise InvalidArgument(f("life_stage"), "is for LIFE_STAGE_CHANGED triggers only")
        text(draft.life_stage, f("life_stage"), MAX_LIFE_STAGE_CHARS)
        if not draft.life_stage.isprintable():
            raise InvalidArgument(f("life_stage"), "must be printable")
    window_kind = kind is TriggerKind.TIME_WINDOW
    if window_kind:
        if not draft.date_trait.strip():
            raise InvalidArgument(f("date_trait"), "is required for TIME_WINDOW triggers")
        text(draft.date_trait, f("date_trait"), MAX_TRAIT_KEY_CHARS)
        if not draft.date_trait.isprintable():
            raise InvalidArgument(f("date_trait"), "must be printable")
        if not -MAX_OFFSET_DAYS <= draft.offset_days <= MAX_OFFSET_DAYS:
            raise InvalidArgument(
                f("offset_days"), f"must be between -{MAX_OFFSET_DAYS} and {MAX_OFFSET_DAYS}"
            )
        if not 0 <= draft.years_after <= MAX_YEARS_AFTER:
            raise InvalidArgument(f("years_after"), f"must be between 0 and {MAX_YEARS_AFTER}")
    else:
        for key in ("date_trait", "offset_days", "years_after"):
            if getattr(draft, key):
                raise InvalidArgument(f(key), "is for TIME_WINDOW triggers only")
    if draft.throttle is not None and not MIN_THROTTLE <= draft.throttle <= MAX_THROTTLE:
        raise InvalidArgument(f("throttle"), "must be from 1 minute to 366 days")
