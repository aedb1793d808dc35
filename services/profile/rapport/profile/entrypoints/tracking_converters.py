"""Protobuf <-> commands and results of tracking plans."""

from __future__ import annotations

from typing import Any

from rapport.profile.domain import names
from rapport.profile.domain.model import EventType
from rapport.profile.domain.tracking import Enforcement, TrackingPlan, ViolationKind
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.tracking_plans import PlanPage, ViolationPage
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import dict_to_struct, struct_to_dict, to_timestamp

_ENFORCEMENTS = {
    pb.TRACKING_PLAN_ENFORCEMENT_FLAG: Enforcement.FLAG,
    pb.TRACKING_PLAN_ENFORCEMENT_BLOCK: Enforcement.BLOCK,
}
_ENFORCEMENT_VALUES = {kind: value for value, kind in _ENFORCEMENTS.items()}
_KINDS = {
    ViolationKind.UNPLANNED_EVENT: pb.VIOLATION_KIND_UNPLANNED_EVENT,
    ViolationKind.MISSING_REQUIRED_PROPERTY: pb.VIOLATION_KIND_MISSING_REQUIRED_PROPERTY,
    ViolationKind.WRONG_TYPE: pb.VIOLATION_KIND_WRONG_TYPE,
    ViolationKind.ADDITIONAL_PROPERTY: pb.VIOLATION_KIND_ADDITIONAL_PROPERTY,
    ViolationKind.INVALID_VALUE: pb.VIOLATION_KIND_INVALID_VALUE,
}
_EVENT_TYPES = {
    EventType.IDENTIFY: pb.EVENT_TYPE_IDENTIFY,
    EventType.TRACK: pb.EVENT_TYPE_TRACK,
    EventType.PAGE: pb.EVENT_TYPE_PAGE,
    EventType.SCREEN: pb.EVENT_TYPE_SCREEN,
    EventType.GROUP: pb.EVENT_TYPE_GROUP,
    EventType.ALIAS: pb.EVENT_TYPE_ALIAS,
}


def _schemas(plan: pb.TrackingPlan) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    schemas = {
        name: struct_to_dict(
            struct,
            field_path=f'tracking_plan.event_schemas["{name}"]',
            whole_numbers_as_ints=True,
        )
        for name, struct in plan.event_schemas.items()
    }
    identify = (
        struct_to_dict(
            plan.identify_schema,
            field_path="tracking_plan.identify_schema",
            whole_numbers_as_ints=True,
        )
        if plan.HasField("identify_schema")
        else None
    )
    return schemas, identify


def create_command(request: pb.CreateTrackingPlanRequest) -> commands.CreateTrackingPlan:
    plan = request.tracking_plan
    schemas, identify = _schemas(plan)
    return commands.CreateTrackingPlan(
        parent=request.parent,
        display_name=plan.display_name,
        enforcement=_ENFORCEMENTS.get(plan.enforcement),
        event_schemas=schemas,
        identify_schema=identify,
        plan_id=request.tracking_plan_id,
    )


def update_command(request: pb.UpdateTrackingPlanRequest) -> commands.UpdateTrackingPlan:
    plan = request.tracking_plan
    schemas, identify = _schemas(plan)
    return commands.UpdateTrackingPlan(
        name=plan.name,
        display_name=plan.display_name,
        enforcement=_ENFORCEMENTS.get(plan.enforcement),
        event_schemas=schemas,
        identify_schema=identify,
        update_mask=tuple(request.update_mask.paths),
    )


def plan_message(plan: TrackingPlan) -> pb.TrackingPlan:
    message = pb.TrackingPlan(
        name=names.tracking_plan_name(plan.workspace, plan.plan_id),
        display_name=plan.display_name,
        enforcement=_ENFORCEMENT_VALUES[plan.enforcement],
        revision_id=plan.revision_id,
        create_time=to_timestamp(plan.create_time),
        update_time=to_timestamp(plan.update_time),
    )
    for name, schema in plan.event_schemas.items():
        message.event_schemas[name].CopyFrom(dict_to_struct(schema, field_path="event_schemas"))
    if plan.identify_schema is not None:
        message.identify_schema.CopyFrom(
            dict_to_struct(plan.identify_schema, field_path="identify_schema")
        )
    return message


def list_response(page: PlanPage) -> pb.ListTrackingPlansResponse:
    return pb.ListTrackingPlansResponse(
        tracking_plans=[plan_message(p) for p in page.plans],
        next_page_token=page.next_page_token,
    )


def revisions_response(page: PlanPage) -> pb.ListTrackingPlanRevisionsResponse:
    return pb.ListTrackingPlanRevisionsResponse(
        tracking_plans=[plan_message(p) for p in page.plans],
        next_page_token=page.next_page_token,
    )


def violations_response(page: ViolationPage) -> pb.ListTrackingPlanViolationsResponse:
    return pb.ListTrackingPlanViolationsResponse(
        violation_counts=[
            pb.ViolationCount(
                event=c.event_name,
                event_type=_EVENT_TYPES[c.event_type],
                kind=_KINDS[c.kind],
                field=c.field,
                count=c.count,
                description=c.description,
                last_message_id=c.last_message_id,
                last_time=to_timestamp(c.last_time),
            )
            for c in page.counts
        ],
        next_page_token=page.next_page_token,
        total_count=page.total,
    )
