"""Segment triggers name a segment profile has: checked with profile (GetSegment) when
created, updated and published; profile unreachable changes nothing."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2

PARENT = "workspaces/default"
VIP = "workspaces/default/segments/vip"
GONE = "workspaces/default/segments/gone"
TRIGGER = "workspaces/default/triggers/vip-welcome"


async def _action(stub) -> None:
    await stub.CreateAction(
        pb.CreateActionRequest(
            parent=PARENT,
            action_id="reminder",
            action=pb.Action(
                channels=[channel_pb2.CHANNEL_EMAIL],
                purpose="marketing",
                value=1.0,
                content={"subject": "s", "text_body": "b"},
            ),
        )
    )


def _segment_trigger(segment: str, kind=pb.TRIGGER_KIND_SEGMENT_ENTERED) -> pb.Trigger:
    return pb.Trigger(
        kind=kind,
        segment=segment,
        action="workspaces/default/actions/reminder",
        channel=channel_pb2.CHANNEL_EMAIL,
    )


async def _create(stub, segment: str, kind=pb.TRIGGER_KIND_SEGMENT_ENTERED) -> pb.Trigger:
    return await stub.CreateTrigger(
        pb.CreateTriggerRequest(
            parent=PARENT, trigger_id="vip-welcome", trigger=_segment_trigger(segment, kind)
        )
    )


async def _triggers(stub) -> list[pb.Trigger]:
    return list((await stub.ListTriggers(pb.ListTriggersRequest(parent=PARENT))).triggers)


async def test_a_trigger_on_a_segment_profile_does_not_have_is_refused(stub, fake_services):
    await _action(stub)
    for kind in (pb.TRIGGER_KIND_SEGMENT_ENTERED, pb.TRIGGER_KIND_SEGMENT_EXITED):
        info, _ = await expect_error(_create(stub, GONE, kind), grpc.StatusCode.FAILED_PRECONDITION)
        assert info.reason == "SEGMENT_NOT_FOUND"
        assert (info.metadata["field"], info.metadata["segment"]) == ("trigger.segment", GONE)
    assert await _triggers(stub) == []
    assert fake_services.profile.get_segment_requests == [GONE, GONE]

    fake_services.profile.segments.add(VIP)
    created = await _create(stub, VIP)
    assert created.segment == VIP
    assert await _triggers(stub) == [created]


async def test_an_update_naming_a_missing_segment_changes_nothing(stub, fake_services):
    await _action(stub)
    fake_services.profile.segments.add(VIP)
    created = await _create(stub, VIP)
    info, _ = await expect_error(
        stub.UpdateTrigger(
            pb.UpdateTriggerRequest(
                trigger=pb.Trigger(name=TRIGGER, segment=GONE),
                update_mask=field_mask_pb2.FieldMask(paths=["segment"]),
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (info.reason, info.metadata["field"]) == ("SEGMENT_NOT_FOUND", "trigger.segment")
    assert info.metadata["trigger"] == TRIGGER
    assert await stub.GetTrigger(pb.GetTriggerRequest(name=TRIGGER)) == created


async def test_profile_unreachable_is_unavailable_and_changes_nothing(stub, fake_services):
    await _action(stub)
    fake_services.profile.segments.add(VIP)
    fake_services.profile.fail_get_segment_with = [grpc.StatusCode.UNAVAILABLE] * 10
    await expect_error(_create(stub, VIP), grpc.StatusCode.UNAVAILABLE)
    assert await _triggers(stub) == []
    fake_services.profile.fail_get_segment_with = []
    assert (await _create(stub, VIP)).segment == VIP


async def test_publishing_a_draft_whose_segment_is_gone_is_refused(stub, fake_services):
    await _action(stub)
    fake_services.profile.segments.add(VIP)
    await _create(stub, VIP)
    fake_services.profile.segments.discard(VIP)  # deleted in profile since
    info, _ = await expect_error(
        stub.PublishDecisionConfig(pb.PublishDecisionConfigRequest(parent=PARENT)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (info.reason, info.metadata["segment"]) == ("SEGMENT_NOT_FOUND", VIP)
    assert info.metadata["trigger"] == TRIGGER
    versions = await stub.ListDecisionConfigVersions(
        pb.ListDecisionConfigVersionsRequest(parent=PARENT)
    )
    assert list(versions.decision_config_versions) == []

    fake_services.profile.segments.add(VIP)
    published = await stub.PublishDecisionConfig(pb.PublishDecisionConfigRequest(parent=PARENT))
    assert published.live and published.trigger_count == 1
