"""Protobuf <-> commands and results of ExportProfile, EraseProfile and the data
hygiene policy RPCs."""

from __future__ import annotations

from rapport.errors import InvalidArgument
from rapport.profile.domain import names
from rapport.profile.domain.hygiene import HygienePolicy, InactivityAction, InactivityRule
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.customer_state import Erased
from rapport.profile.service_layer.hygiene import Export, InactivePage
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import to_timestamp

_ACTIONS = {
    pb.INACTIVITY_ACTION_REPORT: InactivityAction.REPORT,
    pb.INACTIVITY_ACTION_DELETE: InactivityAction.DELETE,
}
_ACTION_VALUES = {action: value for value, action in _ACTIONS.items()}


def export_response(export: Export) -> pb.ExportProfileResponse:
    return pb.ExportProfileResponse(
        name=names.profile_name(export.workspace, export.customer_id),
        data_json=export.data_json,
        export_time=to_timestamp(export.export_time),
        next_page_token=export.next_page_token,
    )


def erase_response(erased: Erased) -> pb.EraseProfileResponse:
    return pb.EraseProfileResponse(
        name=names.profile_name(erased.workspace, erased.customer_id),
        erased_event_count=erased.event_count,
        erased_trait_count=erased.trait_count,
    )


def update_policy_command(
    request: pb.UpdateDataHygienePolicyRequest,
) -> commands.UpdateDataHygienePolicy:
    sent = request.data_hygiene_policy
    rule = None
    if sent.HasField("inactivity"):
        action = _ACTIONS.get(sent.inactivity.action)
        if action is None:
            raise InvalidArgument(
                "data_hygiene_policy.inactivity.action", "must be REPORT or DELETE"
            )
        rule = InactivityRule(sent.inactivity.event_name, sent.inactivity.inactive_days, action)
    policy = HygienePolicy(
        workspace="",
        default_retention_days=sent.default_retention_days,
        event_retention_days=dict(sent.event_retention_days),
        inactivity=rule,
    )
    return commands.UpdateDataHygienePolicy(
        name=sent.name, policy=policy, update_mask=tuple(request.update_mask.paths)
    )


def policy_message(policy: HygienePolicy) -> pb.DataHygienePolicy:
    message = pb.DataHygienePolicy(
        name=names.hygiene_policy_name(policy.workspace),
        default_retention_days=policy.default_retention_days,
        event_retention_days=policy.event_retention_days,
    )
    if policy.inactivity is not None:
        rule = policy.inactivity
        message.inactivity.CopyFrom(
            pb.InactivityRule(
                event_name=rule.event_name,
                inactive_days=rule.inactive_days,
                action=_ACTION_VALUES[rule.action],
            )
        )
    if policy.update_time is not None:
        message.update_time.CopyFrom(to_timestamp(policy.update_time))
    return message


def inactive_response(page: InactivePage) -> pb.ListInactiveProfilesResponse:
    response = pb.ListInactiveProfilesResponse(next_page_token=page.next_page_token)
    for row in page.profiles:
        item = response.inactive_profiles.add(
            name=names.profile_name(page.workspace, row.customer_id),
            last_seen_time=to_timestamp(row.last_seen_time),
        )
        if row.last_activity_time is not None:
            item.last_activity_time.CopyFrom(to_timestamp(row.last_activity_time))
    return response
