"""Segments and life stages reading a computed trait follow it when its values change
for many customers at once, with no event to re-evaluate them: its backfill's end, a
new key, its deletion. They used to wait for their scheduled re-evaluation (an hour by
default) meanwhile holding the customers the values no longer describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import field_mask_pb2
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as pb

from .test_profile_computed_traits import create, ingest, order

PARENT = "workspaces/default"
SEGMENT = f"{PARENT}/segments/repeat-buyers"
Stub = Any


async def _state(stub: Stub, customer: str) -> tuple[list[str], str]:
    """The customer's segments and life stage."""
    profile = await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
    return list(profile.segments), profile.life_stage


async def _becomes(stub: Stub, customer: str, expected: tuple[list[str], str]) -> None:
    async def reached() -> bool:
        return await _state(stub, customer) == expected

    await eventually(reached, timeout=10)

    # Then the evaluations that got it there are recorded (next ones in an hour): a
    # change made while one is under way is left to it, or to the next.
    async def settled() -> bool:
        soon = datetime.now(UTC) + timedelta(minutes=10)
        segment = await stub.GetSegment(pb.GetSegmentRequest(name=SEGMENT))
        model = await stub.GetLifeStageModel(
            pb.GetLifeStageModelRequest(name=f"{PARENT}/lifeStageModel")
        )
        return all(
            due.ToDatetime(UTC) > soon
            for due in (segment.next_evaluation_time, model.next_evaluation_time)
        )

    await eventually(settled, timeout=10)


async def test_rules_reading_a_computed_trait_follow_its_backfill_key_and_deletion(
    profile: Stub,
) -> None:
    await rules_follow_a_computed_trait(profile)


async def rules_follow_a_computed_trait(profile: Stub) -> None:
    """The scenario (also run on PostgreSQL)."""
    [ann, *_] = await ingest(profile, *(order(f"o{n}", "ann", days_ago=n) for n in range(3)))
    await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT,
            segment_id="repeat-buyers",
            segment=pb.Segment(rule="computed_traits.orders >= 2.0"),
        )
    )
    await profile.UpdateLifeStageModel(
        pb.UpdateLifeStageModelRequest(
            life_stage_model=pb.LifeStageModel(
                name=f"{PARENT}/lifeStageModel",
                stages=[pb.LifeStage(stage="loyal", rule="computed_traits.orders >= 2.0")],
            )
        )
    )

    async def evaluated() -> bool:
        segment = await profile.GetSegment(pb.GetSegmentRequest(name=SEGMENT))
        return segment.HasField("last_evaluation_time")

    await eventually(evaluated, timeout=10)
    assert await _state(profile, ann) == ([], "")

    # The trait's backfill counts ann's three orders: she is a repeat buyer, and loyal.
    trait = await create(profile, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
    await _becomes(profile, ann, ([SEGMENT], "loyal"))

    # Renamed, the key the rules read holds nothing: she leaves; named back, she returns.
    for key, expected in (("purchases", ([], "")), ("orders", ([SEGMENT], "loyal"))):
        await profile.UpdateComputedTrait(
            pb.UpdateComputedTraitRequest(
                computed_trait=pb.ComputedTrait(name=trait.name, key=key),
                update_mask=field_mask_pb2.FieldMask(paths=["key"]),
            )
        )
        await _becomes(profile, ann, expected)

    # Deleted: the rules have nothing left to read.
    await profile.DeleteComputedTrait(pb.DeleteComputedTraitRequest(name=trait.name))
    await _becomes(profile, ann, ([], ""))
    members = await profile.ListSegmentMembers(pb.ListSegmentMembersRequest(segment=SEGMENT))
    assert list(members.members) == []
