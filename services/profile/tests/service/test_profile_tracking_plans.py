"""Tracking plans over gRPC: schemas checked when saved, revisions, FLAG and BLOCK
enforcement with per-event rejections, violation counts by event, kind and field."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import field_mask_pb2, struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.grpctesting import expect_error
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.domain.tracking import (
    CompiledPlan,
    Enforcement,
    PlanCompiler,
    TrackingPlan,
    ViolationKind,
)
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

Stub = profile_service_pb2_grpc.ProfileServiceStub
PARENT = "workspaces/default"

ORDER = {
    "type": "object",
    "properties": {"sku": {"type": "string"}, "price": {"type": "number", "minimum": 0}},
    "required": ["sku", "price"],
    "additionalProperties": False,
}
TRAITS = {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}


def struct(data: dict[str, Any]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(data)
    return value


def plan(enforcement: int, **extra: Any) -> pb.TrackingPlan:
    return pb.TrackingPlan(
        display_name="Shop",
        enforcement=enforcement,
        event_schemas={"Order Completed": struct(ORDER)},
        **extra,
    )


def track(message_id: str, name: str, **properties: Any) -> pb.Event:
    event = pb.Event(type=pb.EVENT_TYPE_TRACK, message_id=message_id, user_id="ann", event=name)
    event.properties.update(properties)
    return event


async def ingest(stub: Stub, *events: pb.Event) -> list[pb.EventResult]:
    reply = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=events))
    return list(reply.results)


async def test_block_rejects_the_bad_event_only_and_counts_violations(profile: Stub) -> None:
    created = await profile.CreateTrackingPlan(
        pb.CreateTrackingPlanRequest(
            parent=PARENT,
            tracking_plan_id="shop",
            tracking_plan=plan(pb.TRACKING_PLAN_ENFORCEMENT_BLOCK, identify_schema=struct(TRAITS)),
        )
    )
    assert created.name == f"{PARENT}/trackingPlans/shop" and created.revision_id == 1
    results = await ingest(
        profile,
        track("ok", "Order Completed", sku="A-1", price=9.5),
        track("no-price", "Order Completed", sku="A-1"),
        track("text-price", "Order Completed", sku="A-1", price="cheap"),
        track("extra", "Order Completed", sku="A-1", price=1, coupon="X"),
        track("unplanned", "Cart Viewed"),
        pb.Event(type=pb.EVENT_TYPE_IDENTIFY, message_id="no-email", user_id="ann"),
        pb.Event(type=pb.EVENT_TYPE_PAGE, message_id="page", user_id="ann", event="Home"),
    )
    statuses = [r.status for r in results]
    assert statuses == [
        pb.INGEST_STATUS_ACCEPTED,
        *[pb.INGEST_STATUS_REJECTED] * 5,
        pb.INGEST_STATUS_ACCEPTED,  # the plan does not cover page events
    ]
    fields = [(r.rejection.field, r.rejection.reason) for r in results[1:6]]
    assert fields == [
        ("events[1].properties.price", "TRACKING_PLAN_VIOLATION"),
        ("events[2].properties.price", "TRACKING_PLAN_VIOLATION"),
        ("events[3].properties.coupon", "TRACKING_PLAN_VIOLATION"),
        ("events[4].event", "TRACKING_PLAN_VIOLATION"),
        ("events[5].traits.email", "TRACKING_PLAN_VIOLATION"),
    ]
    # A rejected event stored nothing.
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=f"{PARENT}/customers/-"))
    assert sorted(e.message_id for e in listed.events) == ["ok", "page"]

    await ingest(profile, track("no-price-2", "Order Completed", sku="B-2"))
    violations = await profile.ListTrackingPlanViolations(
        pb.ListTrackingPlanViolationsRequest(parent=created.name, page_size=2)
    )
    assert violations.total_count == 6
    top = violations.violation_counts[0]
    assert (top.event, top.kind, top.field, top.count, top.last_message_id) == (
        "Order Completed",
        pb.VIOLATION_KIND_MISSING_REQUIRED_PROPERTY,
        "properties.price",
        2,
        "no-price-2",
    )
    rest = await profile.ListTrackingPlanViolations(
        pb.ListTrackingPlanViolationsRequest(
            parent=created.name, page_size=10, page_token=violations.next_page_token
        )
    )
    kinds = {(c.event_type, c.kind) for c in [*violations.violation_counts, *rest.violation_counts]}
    assert kinds == {
        (pb.EVENT_TYPE_TRACK, pb.VIOLATION_KIND_MISSING_REQUIRED_PROPERTY),
        (pb.EVENT_TYPE_TRACK, pb.VIOLATION_KIND_WRONG_TYPE),
        (pb.EVENT_TYPE_TRACK, pb.VIOLATION_KIND_ADDITIONAL_PROPERTY),
        (pb.EVENT_TYPE_TRACK, pb.VIOLATION_KIND_UNPLANNED_EVENT),
        (pb.EVENT_TYPE_IDENTIFY, pb.VIOLATION_KIND_MISSING_REQUIRED_PROPERTY),
    }
    assert not rest.next_page_token


async def test_flag_accepts_and_counts_and_updates_make_revisions(profile: Stub) -> None:
    created = await profile.CreateTrackingPlan(
        pb.CreateTrackingPlanRequest(
            parent=PARENT, tracking_plan=plan(pb.TRACKING_PLAN_ENFORCEMENT_FLAG)
        )
    )
    results = await ingest(profile, track("m1", "Order Completed", sku=5, price=1))
    assert results[0].status == pb.INGEST_STATUS_ACCEPTED
    counts = await profile.ListTrackingPlanViolations(
        pb.ListTrackingPlanViolationsRequest(parent=created.name)
    )
    assert [(c.kind, c.field) for c in counts.violation_counts] == [
        (pb.VIOLATION_KIND_WRONG_TYPE, "properties.sku")
    ]

    # Block from now on: a new revision; the old one stays readable.
    updated = await profile.UpdateTrackingPlan(
        pb.UpdateTrackingPlanRequest(
            tracking_plan=pb.TrackingPlan(
                name=created.name, enforcement=pb.TRACKING_PLAN_ENFORCEMENT_BLOCK
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["enforcement"]),
        )
    )
    assert updated.revision_id == 2 and "Order Completed" in updated.event_schemas
    results = await ingest(profile, track("m2", "Order Completed", sku=5, price=1))
    assert results[0].status == pb.INGEST_STATUS_REJECTED
    revisions = await profile.ListTrackingPlanRevisions(
        pb.ListTrackingPlanRevisionsRequest(name=created.name, page_size=1)
    )
    assert [r.revision_id for r in revisions.tracking_plans] == [2]
    older = await profile.ListTrackingPlanRevisions(
        pb.ListTrackingPlanRevisionsRequest(
            name=created.name, page_size=1, page_token=revisions.next_page_token
        )
    )
    assert [(r.revision_id, r.enforcement) for r in older.tracking_plans] == [
        (1, pb.TRACKING_PLAN_ENFORCEMENT_FLAG)
    ]
    got = await profile.GetTrackingPlan(pb.GetTrackingPlanRequest(name=created.name))
    assert got == updated
    listed = await profile.ListTrackingPlans(pb.ListTrackingPlansRequest(parent=PARENT))
    assert [p.name for p in listed.tracking_plans] == [created.name]

    await profile.DeleteTrackingPlan(pb.DeleteTrackingPlanRequest(name=created.name))
    results = await ingest(profile, track("m3", "Order Completed", sku=5, price=1))
    assert results[0].status == pb.INGEST_STATUS_ACCEPTED
    await expect_error(
        profile.ListTrackingPlanViolations(
            pb.ListTrackingPlanViolationsRequest(parent=created.name)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_a_catastrophic_pattern_cannot_stall_ingestion(profile: Stub) -> None:
    # Python's re would backtrack on this for longer than the universe's age; RE2 runs
    # it in linear time, so the event is simply blocked.
    schema = {"properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    await profile.CreateTrackingPlan(
        pb.CreateTrackingPlanRequest(
            parent=PARENT,
            tracking_plan=pb.TrackingPlan(
                enforcement=pb.TRACKING_PLAN_ENFORCEMENT_BLOCK,
                event_schemas={"Coupon Applied": struct(schema)},
            ),
        )
    )
    results = await ingest(
        profile,
        track("evil", "Coupon Applied", code="a" * 20_000 + "b"),
        track("fine", "Coupon Applied", code="aaa"),
    )
    assert [r.status for r in results] == [pb.INGEST_STATUS_REJECTED, pb.INGEST_STATUS_ACCEPTED]
    assert results[0].rejection.field == "events[0].properties.code"


async def test_bad_schemas_are_refused_with_their_path(profile: Stub) -> None:
    cases = [
        (
            {"Order Completed": {"type": "strange"}},
            'tracking_plan.event_schemas["Order Completed"].type',
        ),
        (
            {"Order Completed": {"properties": {"a": {"$ref": "https://example.com/s.json"}}}},
            'tracking_plan.event_schemas["Order Completed"].properties.a.$ref',
        ),
        (
            {"Order Completed": {"properties": {"a": {"pattern": "("}}}},
            'tracking_plan.event_schemas["Order Completed"].properties.a.pattern',
        ),
        (  # a back-reference: RE2 runs patterns in linear time, without them
            {"Order Completed": {"properties": {"a": {"pattern": "(x)\\1"}}}},
            'tracking_plan.event_schemas["Order Completed"].properties.a.pattern',
        ),
    ]
    for schemas, field in cases:
        await expect_error(
            profile.CreateTrackingPlan(
                pb.CreateTrackingPlanRequest(
                    parent=PARENT,
                    tracking_plan=pb.TrackingPlan(
                        enforcement=pb.TRACKING_PLAN_ENFORCEMENT_FLAG,
                        event_schemas={k: struct(v) for k, v in schemas.items()},
                    ),
                )
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    await expect_error(
        profile.CreateTrackingPlan(
            pb.CreateTrackingPlanRequest(parent=PARENT, tracking_plan=pb.TrackingPlan())
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="tracking_plan.enforcement",
    )
    assert not (
        await profile.ListTrackingPlans(pb.ListTrackingPlansRequest(parent=PARENT))
    ).tracking_plans


def _plan(schema: dict[str, Any]) -> TrackingPlan:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return TrackingPlan("default", "p", "", Enforcement.BLOCK, {"E": schema}, None, 1, now, now)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["sku", "price", "qty", "extra"]),
        st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=5)),
    )
)
def test_violations_name_exactly_the_offending_properties(properties: dict[str, Any]) -> None:
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "price": {"type": "number"}},
        "required": ["sku"],
        "additionalProperties": False,
    }
    compiled = PlanCompiler().compiled(_plan(schema))
    assert isinstance(compiled, CompiledPlan)
    found = compiled.check(
        IncomingEvent(type=EventType.TRACK, message_id="m", event="E", properties=properties)
    )
    expected = set()
    if "sku" not in properties:
        expected.add((ViolationKind.MISSING_REQUIRED_PROPERTY, "properties.sku"))
    elif not isinstance(properties["sku"], str):
        expected.add((ViolationKind.WRONG_TYPE, "properties.sku"))
    price = properties.get("price", 0.0)
    if "price" in properties and (isinstance(price, bool) or not isinstance(price, float)):
        expected.add((ViolationKind.WRONG_TYPE, "properties.price"))
    for extra in {"qty", "extra"} & set(properties):
        expected.add((ViolationKind.ADDITIONAL_PROPERTY, f"properties.{extra}"))
    assert {(v.kind, v.field) for v in found} == expected


def test_validators_are_compiled_once_per_revision() -> None:
    compiler = PlanCompiler()
    first = _plan({"type": "object"})
    assert compiler.compiled(first) is compiler.compiled(first)
    from dataclasses import replace

    assert compiler.compiled(replace(first, revision_id=2)) is not compiler.compiled(first)


async def test_a_plan_created_again_under_its_id_is_enforced_with_its_new_schemas(
    profile: Stub,
) -> None:
    first = await profile.CreateTrackingPlan(
        pb.CreateTrackingPlanRequest(
            parent=PARENT,
            tracking_plan_id="shop",
            tracking_plan=plan(pb.TRACKING_PLAN_ENFORCEMENT_BLOCK),
        )
    )
    [refused] = await ingest(profile, track("m1", "Order Completed", price=1))
    assert refused.status == pb.INGEST_STATUS_REJECTED  # sku is required
    await profile.DeleteTrackingPlan(pb.DeleteTrackingPlanRequest(name=first.name))
    lenient = {"type": "object", "properties": {"price": {"type": "number"}}}
    again = await profile.CreateTrackingPlan(
        pb.CreateTrackingPlanRequest(
            parent=PARENT,
            tracking_plan_id="shop",
            tracking_plan=pb.TrackingPlan(
                display_name="Shop",
                enforcement=pb.TRACKING_PLAN_ENFORCEMENT_BLOCK,
                event_schemas={"Order Completed": struct(lenient)},
            ),
        )
    )
    assert again.revision_id == first.revision_id  # revisions start again
    # On the old code the deleted plan's compiled schema (same id and revision) was
    # still applied: rejected for the missing sku.
    [accepted] = await ingest(profile, track("m2", "Order Completed", price=1))
    assert accepted.status == pb.INGEST_STATUS_ACCEPTED, accepted
