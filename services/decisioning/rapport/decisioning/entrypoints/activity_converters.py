"""Protobuf <-> commands and results for trigger activities."""

from __future__ import annotations

from rapport.decisioning.domain import names
from rapport.decisioning.domain.trigger_activity import ActivityOutcome, TriggerActivity
from rapport.decisioning.service_layer.commands import UnknownEnumValue
from rapport.decisioning.service_layer.trigger_activity_commands import ListTriggerActivities
from rapport.decisioning.v1 import decisioning_service_pb2 as pb

from .converters import timestamp

_PROTO_ACTIVITY_OUTCOMES = set(pb.TriggerActivityOutcome.values()) - {
    pb.TRIGGER_ACTIVITY_OUTCOME_UNSPECIFIED
}


def _outcome_filter(value: int) -> ActivityOutcome | UnknownEnumValue | None:
    """None for unspecified (every outcome); numbers this version does not know are kept
    for the handler to refuse."""
    if value == pb.TRIGGER_ACTIVITY_OUTCOME_UNSPECIFIED:
        return None
    if value not in _PROTO_ACTIVITY_OUTCOMES:
        return UnknownEnumValue(value)
    name = pb.TriggerActivityOutcome.Name(value).removeprefix("TRIGGER_ACTIVITY_OUTCOME_")
    return ActivityOutcome[name]


def list_trigger_activities_command(
    request: pb.ListTriggerActivitiesRequest,
) -> ListTriggerActivities:
    return ListTriggerActivities(
        parent=request.parent,
        page_size=request.page_size,
        page_token=request.page_token,
        customer=request.customer,
        outcome=_outcome_filter(request.outcome),
    )


def trigger_activity_to_proto(activity: TriggerActivity) -> pb.TriggerActivity:
    workspace = activity.workspace
    return pb.TriggerActivity(
        name=names.trigger_activity_name(workspace, activity.trigger_id, activity.activity_id),
        customer=activity.customer,
        signal_kind=pb.TriggerSignalKind.Value(f"TRIGGER_SIGNAL_KIND_{activity.signal.kind.name}"),
        signal_cursor=activity.signal.cursor,
        event_message_id=activity.signal.event_message_id,
        outcome=pb.TriggerActivityOutcome.Value(
            f"TRIGGER_ACTIVITY_OUTCOME_{activity.outcome.name}"
        ),
        reason=activity.reason,
        decision=names.decision_name(workspace, activity.decision_id)
        if activity.decision_id
        else "",
        message=activity.message,
        create_time=timestamp(activity.create_time),
    )
