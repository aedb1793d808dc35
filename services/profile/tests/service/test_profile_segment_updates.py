"""UpdateSegment and DeleteSegment over gRPC: masks and rules checked, a changed rule
re-evaluated for every customer (with entered/exited signals), deletion's exit signals."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from rapport.grpctesting import eventually, expect_error
from rapport.profile.v1 import profile_service_pb2 as pb

from .test_profile_segments import PARENT, Stub, identify, ingest, members, signals_of

MEMBERSHIP = [pb.SIGNAL_KIND_SEGMENT_ENTERED, pb.SIGNAL_KIND_SEGMENT_EXITED]


def update(segment: pb.Segment, *paths: str) -> pb.UpdateSegmentRequest:
    return pb.UpdateSegmentRequest(
        segment=segment, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


async def filled(stub: Stub, name: str, count: int) -> None:
    async def done() -> bool:
        got = await stub.GetSegment(pb.GetSegmentRequest(name=name))
        return (
            got.HasField("last_evaluation_time")
            and not got.HasField("next_evaluation_time")
            and got.member_count == count
        )

    await eventually(done, timeout=10)


async def test_a_changed_rule_moves_customers_with_signals(profile: Stub) -> None:
    [ann, bob, cara] = await ingest(
        profile,
        identify("m1", "ann", plan="pro"),
        identify("m2", "bob", plan="free"),
        identify("m3", "cara", plan="team"),
    )
    segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT,
            segment_id="paying",
            segment=pb.Segment(display_name="Paying", rule='traits.plan == "pro"'),
        )
    )
    await filled(profile, segment.name, 1)
    assert await members(profile, segment.name) == [ann]

    updated = await profile.UpdateSegment(
        update(
            pb.Segment(name=segment.name, rule='traits.plan in ["free", "team"]'),
            "rule",
        )
    )
    assert updated.rule == 'traits.plan in ["free", "team"]'
    assert updated.display_name == "Paying"  # not in the mask: kept
    assert updated.HasField("next_evaluation_time")  # evaluation scheduled right away
    await filled(profile, segment.name, 2)
    assert await members(profile, segment.name) == sorted([bob, cara])

    changes = await signals_of(profile, MEMBERSHIP, 4)
    assert changes[0].kind == pb.SIGNAL_KIND_SEGMENT_ENTERED and changes[0].customer == ann
    after_update = {(s.kind, s.customer) for s in changes[1:]}
    assert after_update == {
        (pb.SIGNAL_KIND_SEGMENT_EXITED, ann),
        (pb.SIGNAL_KIND_SEGMENT_ENTERED, bob),
        (pb.SIGNAL_KIND_SEGMENT_ENTERED, cara),
    }
    assert {s.segment_membership_changed.segment for s in changes} == {segment.name}

    # Ingestion follows the new rule at once.
    await ingest(profile, identify("m4", "ann", plan="team"))
    assert await members(profile, segment.name) == sorted([ann, bob, cara])

    # A display name alone leaves the rule and its schedule alone.
    renamed = await profile.UpdateSegment(
        update(pb.Segment(name=segment.name, display_name="Customers"), "display_name")
    )
    assert renamed.display_name == "Customers" and renamed.rule == updated.rule
    assert not renamed.HasField("next_evaluation_time")
    got = await profile.GetSegment(pb.GetSegmentRequest(name=segment.name))
    assert got.display_name == "Customers" and got.member_count == 3


async def test_updates_are_checked(profile: Stub) -> None:
    segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(parent=PARENT, segment_id="all", segment=pb.Segment(rule="true"))
    )
    await expect_error(
        profile.UpdateSegment(update(pb.Segment(name=segment.name, rule="false"), "member_count")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="update_mask.paths[0]",
    )
    _, bad = await expect_error(
        profile.UpdateSegment(update(pb.Segment(name=segment.name, rule="true &&"), "rule")),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="segment.rule",
    )
    assert bad is not None and "line 1, column" in bad.field_violations[0].description
    await expect_error(
        profile.UpdateSegment(
            update(pb.Segment(name=segment.name, display_name="x" * 201), "display_name")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="segment.display_name",
    )
    # An empty mask means every updatable field: the empty rule is refused.
    await expect_error(
        profile.UpdateSegment(pb.UpdateSegmentRequest(segment=pb.Segment(name=segment.name))),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="segment.rule",
    )
    await expect_error(
        profile.UpdateSegment(update(pb.Segment(name=f"{PARENT}/segments/nope", rule="true"))),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        profile.UpdateSegment(update(pb.Segment(name="workspaces/other/segments/all"), "rule")),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        profile.UpdateSegment(update(pb.Segment(name="segments/all", rule="true"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="segment.name",
    )
    got = await profile.GetSegment(pb.GetSegmentRequest(name=segment.name))
    assert got.rule == "true" and got.display_name == ""  # nothing saved


async def test_deleting_a_segment_sends_exit_signals(profile: Stub) -> None:
    segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT, segment_id="pros", segment=pb.Segment(rule='traits.plan == "pro"')
        )
    )
    [ann, bob, _] = await ingest(
        profile,
        identify("m1", "ann", plan="pro"),
        identify("m2", "bob", plan="pro"),
        identify("m3", "cara", plan="free"),
    )
    assert await members(profile, segment.name) == sorted([ann, bob])
    await profile.DeleteSegment(pb.DeleteSegmentRequest(name=segment.name))
    changes = await signals_of(profile, MEMBERSHIP, 4)
    assert [(s.kind, s.customer) for s in changes[2:]] == [
        (pb.SIGNAL_KIND_SEGMENT_EXITED, c) for c in sorted([ann, bob])
    ]
    assert {s.segment_membership_changed.segment for s in changes} == {segment.name}
    assert not (await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))).segments
    await expect_error(
        profile.DeleteSegment(pb.DeleteSegmentRequest(name=segment.name)),
        grpc.StatusCode.NOT_FOUND,
    )
