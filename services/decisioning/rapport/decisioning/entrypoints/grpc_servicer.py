"""The DecisioningService servicer: protobuf <-> commands and domain results only."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf import json_format, timestamp_pb2
from rapport.decisioning.domain.model import (
    Action,
    ActionDraft,
    Channel,
    Decision,
    MessageContent,
    Outcome,
    OutcomeType,
    Trigger,
    TriggerDraft,
)
from rapport.decisioning.service_layer import commands, handlers
from rapport.decisioning.service_layer.handlers import Dependencies
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as pb_grpc
from rapport.errors import InvalidArgument

_PROTO_CHANNELS = set(pb.Channel.values()) - {pb.CHANNEL_UNSPECIFIED}
_PROTO_OUTCOME_TYPES = set(pb.OutcomeType.values()) - {pb.OUTCOME_TYPE_UNSPECIFIED}


def channel_from_proto(value: int) -> Channel | None:
    """None for unspecified and for values this version does not know."""
    if value not in _PROTO_CHANNELS:
        return None
    return Channel[pb.Channel.Name(value).removeprefix("CHANNEL_")]


def channel_to_proto(channel: Channel | None) -> int:
    if channel is None:
        return pb.CHANNEL_UNSPECIFIED
    return pb.Channel.Value(f"CHANNEL_{channel.name}")


def outcome_type_from_proto(value: int) -> OutcomeType | None:
    if value not in _PROTO_OUTCOME_TYPES:
        return None
    return OutcomeType[pb.OutcomeType.Name(value).removeprefix("OUTCOME_TYPE_")]


def _time_from_proto(message: object, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


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
        content=MessageContent(
            subject=action.content.subject,
            text_body=action.content.text_body,
            html_body=action.content.html_body,
        ),
        start_time=_time_from_proto(action, "start_time"),
        end_time=_time_from_proto(action, "end_time"),
    )


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
        content=pb.MessageContent(
            subject=action.content.subject,
            text_body=action.content.text_body,
            html_body=action.content.html_body,
        ),
        start_time=_timestamp(action.start_time),
        end_time=_timestamp(action.end_time),
        create_time=_timestamp(action.create_time),
    )


def trigger_to_proto(trigger: Trigger) -> pb.Trigger:
    return pb.Trigger(
        name=trigger.name,
        event_name=trigger.event_name,
        condition=trigger.condition,
        action=trigger.action_name,
        channel=channel_to_proto(trigger.channel),
        create_time=_timestamp(trigger.create_time),
    )


def decision_to_proto(decision: Decision) -> pb.DecideResponse:
    return pb.DecideResponse(
        decision_id=decision.decision_id,
        actions=[
            pb.RankedAction(
                action=ranked.action,
                rank=ranked.rank,
                priority=ranked.priority,
                score=pb.ScoreParts(
                    propensity=ranked.score.propensity,
                    context_weight=ranked.score.context_weight,
                    value=ranked.score.value,
                    lever=ranked.score.lever,
                ),
                probability=ranked.probability,
                channel=channel_to_proto(ranked.channel),
                explanation=ranked.explanation,
            )
            for ranked in decision.actions
        ],
        excluded_actions=[
            pb.ExcludedAction(
                action=excluded.action,
                reason=excluded.reason.value,
                explanation=excluded.explanation,
            )
            for excluded in decision.excluded
        ],
    )


def outcome_to_proto(outcome: Outcome) -> pb.Outcome:
    return pb.Outcome(
        name=outcome.name,
        decision_id=outcome.decision_id,
        customer=outcome.customer,
        action=outcome.action,
        type=pb.OutcomeType.Value(f"OUTCOME_TYPE_{outcome.type.name}"),
        channel=channel_to_proto(outcome.channel),
        outcome_time=_timestamp(outcome.outcome_time),
        create_time=_timestamp(outcome.create_time),
    )


class DecisioningServicer(pb_grpc.DecisioningServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def CreateAction(
        self, request: pb.CreateActionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Action:
        action = await handlers.create_action(
            commands.CreateAction(
                parent=request.parent,
                action_id=request.action_id,
                draft=action_draft_from_proto(request.action),
            ),
            self._deps,
        )
        return action_to_proto(action)

    async def GetAction(
        self, request: pb.GetActionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Action:
        action = await handlers.get_action(commands.GetAction(name=request.name), self._deps)
        return action_to_proto(action)

    async def ListActions(
        self, request: pb.ListActionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListActionsResponse:
        actions, token = await handlers.list_actions(
            commands.ListActions(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
            self._deps,
        )
        return pb.ListActionsResponse(
            actions=[action_to_proto(a) for a in actions], next_page_token=token
        )

    async def DeleteAction(
        self, request: pb.DeleteActionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteActionResponse:
        await handlers.delete_action(commands.DeleteAction(name=request.name), self._deps)
        return pb.DeleteActionResponse()

    async def Decide(
        self, request: pb.DecideRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideResponse:
        channel = channel_from_proto(request.channel)
        if channel is None and request.channel != pb.CHANNEL_UNSPECIFIED:
            raise InvalidArgument("channel", "is not a known channel")
        decision = await handlers.decide(
            commands.Decide(
                parent=request.parent,
                customer=request.customer,
                context=json_format.MessageToDict(request.context),
                channel=channel,
                max_actions=request.max_actions,
            ),
            self._deps,
        )
        return decision_to_proto(decision)

    async def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: grpc.aio.ServicerContext
    ) -> pb.Outcome:
        outcome = request.outcome
        channel = channel_from_proto(outcome.channel)
        if channel is None and outcome.channel != pb.CHANNEL_UNSPECIFIED:
            raise InvalidArgument("outcome.channel", "is not a known channel")
        recorded = await handlers.record_outcome(
            commands.RecordOutcome(
                parent=request.parent,
                customer=outcome.customer,
                action=outcome.action,
                type=outcome_type_from_proto(outcome.type),
                channel=channel,
                decision_id=outcome.decision_id,
                outcome_time=_time_from_proto(outcome, "outcome_time"),
            ),
            self._deps,
        )
        return outcome_to_proto(recorded)

    async def CreateTrigger(
        self, request: pb.CreateTriggerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Trigger:
        trigger = await handlers.create_trigger(
            commands.CreateTrigger(
                parent=request.parent,
                trigger_id=request.trigger_id,
                action=request.trigger.action,
                draft=TriggerDraft(
                    event_name=request.trigger.event_name,
                    condition=request.trigger.condition,
                    channel=channel_from_proto(request.trigger.channel),
                ),
            ),
            self._deps,
        )
        return trigger_to_proto(trigger)

    async def ListTriggers(
        self, request: pb.ListTriggersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTriggersResponse:
        triggers, token = await handlers.list_triggers(
            commands.ListTriggers(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
            self._deps,
        )
        return pb.ListTriggersResponse(
            triggers=[trigger_to_proto(t) for t in triggers], next_page_token=token
        )
