"""Protobuf <-> domain values and commands for the DecisioningService servicer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from rapport.decisioning.domain.model import (
    Action,
    ActionDraft,
    Channel,
    Decision,
    ExcludedAction,
    MessageContent,
    Outcome,
    OutcomeType,
    RankedAction,
    ScoreParts,
    Treatment,
    Trigger,
    TriggerDraft,
    TriggerKind,
)
from rapport.decisioning.service_layer import commands
from rapport.decisioning.service_layer.window_backfill import BackfillView
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.type.v1 import channel_pb2, message_content_pb2
from rapport.wellknowntypes import to_datetime, to_dict, to_duration, to_timedelta, to_timestamp

E = TypeVar("E")

_PROTO_CHANNELS = set(channel_pb2.Channel.values()) - {channel_pb2.CHANNEL_UNSPECIFIED}
_PROTO_OUTCOME_TYPES = set(pb.OutcomeType.values()) - {pb.OUTCOME_TYPE_UNSPECIFIED}


# -- enums and scalars ---------------------------------------------------------------


def channel_from_proto(value: int) -> Channel | None:
    """None for unspecified and for values this version does not know."""
    if value not in _PROTO_CHANNELS:
        return None
    return Channel[channel_pb2.Channel.Name(value).removeprefix("CHANNEL_")]


def _specified(
    value: int, convert: Callable[[int], E | None]
) -> E | commands.UnknownEnumValue | None:
    """None for 0 (unspecified); numbers this version does not know are kept for the
    handler to refuse."""
    if value == 0:
        return None
    known = convert(value)
    return known if known is not None else commands.UnknownEnumValue(value)


def optional_channel_from_proto(value: int) -> Channel | commands.UnknownEnumValue | None:
    return _specified(value, channel_from_proto)


def channel_to_proto(channel: Channel | None) -> int:
    if channel is None:
        return channel_pb2.CHANNEL_UNSPECIFIED
    return channel_pb2.Channel.Value(f"CHANNEL_{channel.name}")


def outcome_type_from_proto(value: int) -> OutcomeType | None:
    if value not in _PROTO_OUTCOME_TYPES:
        return None
    return OutcomeType[pb.OutcomeType.Name(value).removeprefix("OUTCOME_TYPE_")]


def outcome_type_to_proto(value: OutcomeType) -> int:
    return pb.OutcomeType.Value(f"OUTCOME_TYPE_{value.name}")


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if value is None else to_timestamp(value)


def field_mask(message: Message, mask: field_mask_pb2.FieldMask) -> commands.FieldMask:
    """The mask's paths and, for an empty mask, the fields the resource in the request set."""
    populated = frozenset(field.name for field, _ in message.ListFields())
    return commands.FieldMask(paths=tuple(mask.paths), populated=populated)


def _content_from_proto(content: message_content_pb2.MessageContent) -> MessageContent:
    return MessageContent(
        subject=content.subject, text_body=content.text_body, html_body=content.html_body
    )


def _content_to_proto(content: MessageContent) -> message_content_pb2.MessageContent:
    return message_content_pb2.MessageContent(
        subject=content.subject, text_body=content.text_body, html_body=content.html_body
    )


# -- requests -> commands ------------------------------------------------------------


def action_draft_from_proto(action: pb.Action) -> ActionDraft:
    return ActionDraft(
        display_name=action.display_name,
        description=action.description,
        channels=[channel_from_proto(c) for c in action.channels],
        purpose=action.purpose,
        value=action.value,
        lever=action.lever,
        base_propensity=action.base_propensity,
        eligibility=action.eligibility,
        content=_content_from_proto(action.content),
        start_time=to_datetime(action, "start_time", field_path="action.start_time"),
        end_time=to_datetime(action, "end_time", field_path="action.end_time"),
        treatments=[
            Treatment(channel_from_proto(t.channel), _content_from_proto(t.content))
            for t in action.treatments
        ],
        tags=list(action.tags),
        applicability=action.applicability,
        suitability=action.suitability,
    )


def create_action_command(request: pb.CreateActionRequest) -> commands.CreateAction:
    return commands.CreateAction(
        parent=request.parent,
        action_id=request.action_id,
        draft=action_draft_from_proto(request.action),
        group=request.action.group,
    )


def update_action_command(request: pb.UpdateActionRequest) -> commands.UpdateAction:
    return commands.UpdateAction(
        name=request.action.name,
        draft=action_draft_from_proto(request.action),
        group=request.action.group,
        mask=field_mask(request.action, request.update_mask),
    )


_PROTO_TRIGGER_KINDS = set(pb.TriggerKind.values()) - {pb.TRIGGER_KIND_UNSPECIFIED}


def _trigger_kind(value: int) -> TriggerKind:
    if value == pb.TRIGGER_KIND_UNSPECIFIED:
        return TriggerKind.EVENT
    if value not in _PROTO_TRIGGER_KINDS:
        raise InvalidArgument("trigger.kind", "is not a known trigger kind")
    return TriggerKind[pb.TriggerKind.Name(value).removeprefix("TRIGGER_KIND_")]


def _trigger_draft(trigger: pb.Trigger) -> TriggerDraft:
    return TriggerDraft(
        event_name=trigger.event_name,
        condition=trigger.condition,
        channel=channel_from_proto(trigger.channel),
        kind=_trigger_kind(trigger.kind),
        segment=trigger.segment,
        life_stage=trigger.life_stage,
        date_trait=trigger.date_trait,
        offset_days=trigger.offset_days,
        years_after=trigger.years_after,
        throttle=to_timedelta(trigger, "throttle", field_path="trigger.throttle"),
        best_channel=trigger.best_channel,
    )


def create_trigger_command(request: pb.CreateTriggerRequest) -> commands.CreateTrigger:
    return commands.CreateTrigger(
        parent=request.parent,
        trigger_id=request.trigger_id,
        action=request.trigger.action,
        draft=_trigger_draft(request.trigger),
    )


def update_trigger_command(request: pb.UpdateTriggerRequest) -> commands.UpdateTrigger:
    return commands.UpdateTrigger(
        name=request.trigger.name,
        action=request.trigger.action,
        draft=_trigger_draft(request.trigger),
        mask=field_mask(request.trigger, request.update_mask),
    )


def decide_command(request: pb.DecideRequest) -> commands.Decide:
    return commands.Decide(
        parent=request.parent,
        customer=request.customer,
        context=to_dict(request, "context") or {},
        channel=optional_channel_from_proto(request.channel),
        max_actions=request.max_actions,
        placement=request.placement,
        device=request.device,
        time_zone=request.time_zone,
    )


def record_outcome_command(request: pb.RecordOutcomeRequest) -> commands.RecordOutcome:
    outcome = request.outcome
    return commands.RecordOutcome(
        parent=request.parent,
        customer=outcome.customer,
        action=outcome.action,
        type=_specified(outcome.type, outcome_type_from_proto),
        channel=optional_channel_from_proto(outcome.channel),
        decision=outcome.decision,
        outcome_time=to_datetime(outcome, "outcome_time", field_path="outcome.outcome_time"),
        value=outcome.value,
        request_id=request.request_id,
    )


# -- domain -> messages --------------------------------------------------------------


def action_to_proto(action: Action) -> pb.Action:
    return pb.Action(
        name=action.name,
        display_name=action.display_name,
        description=action.description,
        channels=[channel_to_proto(c) for c in action.channels],
        purpose=action.purpose,
        value=action.value,
        lever=action.lever,
        base_propensity=action.base_propensity,
        eligibility=action.eligibility,
        content=_content_to_proto(action.content),
        start_time=timestamp(action.start_time),
        end_time=timestamp(action.end_time),
        create_time=timestamp(action.create_time),
        group=action.group_name,
        treatments=[
            pb.Treatment(channel=channel_to_proto(t.channel), content=_content_to_proto(t.content))
            for t in action.treatments
        ],
        tags=list(action.tags),
        applicability=action.applicability,
        suitability=action.suitability,
        update_time=timestamp(action.update_time),
    )


def trigger_to_proto(trigger: Trigger, backfill: BackfillView | None = None) -> pb.Trigger:
    message = _trigger_message(trigger)
    if backfill is not None:
        message.backfill_state = pb.TriggerBackfillState.Value(
            f"TRIGGER_BACKFILL_STATE_{backfill.state.name}"
        )
        message.backfill_profile_count = backfill.profile_count
        if backfill.complete_time is not None:
            message.backfill_complete_time.CopyFrom(timestamp(backfill.complete_time))
    return message


def _trigger_message(trigger: Trigger) -> pb.Trigger:
    return pb.Trigger(
        name=trigger.name,
        event_name=trigger.event_name,
        condition=trigger.condition,
        action=trigger.action_name,
        channel=channel_to_proto(trigger.channel),
        create_time=timestamp(trigger.create_time),
        update_time=timestamp(trigger.update_time),
        kind=pb.TriggerKind.Value(f"TRIGGER_KIND_{trigger.kind.name}"),
        segment=trigger.segment,
        life_stage=trigger.life_stage,
        date_trait=trigger.date_trait,
        offset_days=trigger.offset_days,
        years_after=trigger.years_after,
        throttle=to_duration(trigger.throttle) if trigger.throttle is not None else None,
        best_channel=trigger.best_channel,
    )


def _score_to_proto(score: ScoreParts) -> pb.ScoreParts:
    return pb.ScoreParts(
        propensity=score.propensity,
        context_weight=score.context_weight,
        value=score.value,
        lever=score.lever,
    )


def _ranked_to_proto(ranked: RankedAction) -> pb.RankedAction:
    return pb.RankedAction(
        action=ranked.action,
        rank=ranked.rank,
        priority=ranked.priority,
        score=_score_to_proto(ranked.score),
        probability=ranked.probability,
        channel=channel_to_proto(ranked.channel),
        explanation=ranked.explanation,
    )


def _set_score(target: pb.ScoreParts, score: ScoreParts) -> None:
    # Setting a field, zero too, makes the sub-message present: no SetInParent needed.
    target.propensity = score.propensity
    target.context_weight = score.context_weight
    target.value = score.value
    target.lever = score.lever


def _add_excluded(excluded_actions: Any, excluded: Sequence[ExcludedAction]) -> None:
    """Appended in place (`add`, fields set on the new message): a few times cheaper
    than building each message and copying it in, for every action of every decision.
    The fields only an outranked action has stay unset (their default) for the others."""
    add = excluded_actions.add
    for item in excluded:
        score = item.score
        if score is None:
            add(action=item.action, reason=item.reason._value_, explanation=item.explanation)
        else:
            message = add(
                action=item.action,
                reason=item.reason._value_,
                explanation=item.explanation,
                priority=score.priority,
            )
            _set_score(message.score, score)


def _scoring_fields(decision: Decision) -> dict[str, Any]:
    """What the models saw and said: the same fields on DecideResponse and Decision."""
    return {
        "model": decision.model,
        "features": dict(decision.features),
        "shadow_scores": [
            pb.ShadowScore(model=s.model, action=s.action, propensity=s.propensity)
            for s in decision.shadow_scores
        ],
    }


def decide_response(decision: Decision) -> pb.DecideResponse:
    response = pb.DecideResponse(
        decision=decision.name,
        actions=[_ranked_to_proto(r) for r in decision.actions],
        config_version=decision.config_version_name,
        **_scoring_fields(decision),
    )
    _add_excluded(response.excluded_actions, decision.excluded)
    return response


def decision_to_proto(decision: Decision) -> pb.Decision:
    message = pb.Decision(
        name=decision.name,
        customer=decision.customer,
        actions=[_ranked_to_proto(r) for r in decision.actions],
        channel=channel_to_proto(decision.channel),
        source=decision.source,
        create_time=timestamp(decision.create_time),
        config_version=decision.config_version_name,
        experiment=decision.experiment,
        experiment_arm=decision.arm_id,
        control=decision.control,
        **_scoring_fields(decision),
    )
    _add_excluded(message.excluded_actions, decision.excluded)
    return message


def outcome_to_proto(outcome: Outcome) -> pb.Outcome:
    return pb.Outcome(
        name=outcome.name,
        decision=outcome.decision,
        customer=outcome.customer,
        action=outcome.action,
        type=outcome_type_to_proto(outcome.type),
        channel=channel_to_proto(outcome.channel),
        outcome_time=timestamp(outcome.outcome_time),
        create_time=timestamp(outcome.create_time),
        value=outcome.value,
    )
