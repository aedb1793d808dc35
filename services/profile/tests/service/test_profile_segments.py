"""Segments and life stages over gRPC: rules checked at save, membership kept in real
time by ingestion (with signals), filled and re-evaluated by the background evaluator
(across a restart), members listed page by page, previews, life stages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from rapport.grpctesting import eventually, expect_error
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

Stub = profile_service_pb2_grpc.ProfileServiceStub
PARENT = "workspaces/default"


def identify(message_id: str, user_id: str, **traits: Any) -> pb.Event:
    event = pb.Event(type=pb.EVENT_TYPE_IDENTIFY, message_id=message_id, user_id=user_id)
    event.traits.update(traits)
    return event


def track(message_id: str, user_id: str) -> pb.Event:
    return pb.Event(
        type=pb.EVENT_TYPE_TRACK, message_id=message_id, user_id=user_id, event="Signed In"
    )


async def ingest(stub: Stub, *events: pb.Event) -> list[str]:
    reply = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=events))
    assert [r.status for r in reply.results] == [pb.INGEST_STATUS_ACCEPTED] * len(events)
    return [r.customer for r in reply.results]


async def signals_of(stub: Stub, kinds: list[int], count: int) -> list[pb.Signal]:
    call = stub.WatchSignals(pb.WatchSignalsRequest(parent=PARENT, kinds=kinds))
    received: list[pb.Signal] = []
    async with asyncio.timeout(10):
        async for response in call:
            received.append(response.signal)
            if len(received) == count:
                break
    call.cancel()
    return received


async def members(stub: Stub, segment: str, page_size: int = 0) -> list[str]:
    found: list[str] = []
    token = ""
    while True:
        page = await stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(segment=segment, page_size=page_size, page_token=token)
        )
        found.extend(m.customer for m in page.members)
        token = page.next_page_token
        if not token:
            return found


async def test_membership_follows_traits_in_real_time_with_signals(profile: Stub) -> None:
    segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT,
            segment_id="pros",
            segment=pb.Segment(display_name="Pro plan", rule='traits.plan == "pro"'),
        )
    )
    assert segment.name == f"{PARENT}/segments/pros"
    assert not segment.time_dependent
    [ann, bob] = await ingest(
        profile, identify("m1", "ann", plan="pro"), identify("m2", "bob", plan="free")
    )
    assert (await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))).segments == [
        segment.name
    ]
    assert not (await profile.GetProfile(pb.GetProfileRequest(name=f"{bob}/profile"))).segments
    assert await members(profile, segment.name) == [ann]

    await ingest(profile, identify("m3", "ann", plan="free"), identify("m4", "bob", plan="pro"))
    assert await members(profile, segment.name) == [bob]
    got = await profile.GetSegment(pb.GetSegmentRequest(name=segment.name))
    assert got.member_count == 1 and got.rule == 'traits.plan == "pro"'

    changes = await signals_of(
        profile, [pb.SIGNAL_KIND_SEGMENT_ENTERED, pb.SIGNAL_KIND_SEGMENT_EXITED], 3
    )
    assert [(s.kind, s.customer) for s in changes] == [
        (pb.SIGNAL_KIND_SEGMENT_ENTERED, ann),
        (pb.SIGNAL_KIND_SEGMENT_EXITED, ann),
        (pb.SIGNAL_KIND_SEGMENT_ENTERED, bob),
    ]
    assert {s.segment_membership_changed.segment for s in changes} == {segment.name}

    # Removing the trait takes bob out (RemoveTraits re-evaluates too).
    await profile.RemoveTraits(pb.RemoveTraitsRequest(name=f"{bob}/profile", keys=["plan"]))
    assert await members(profile, segment.name) == []

    # Per customer, signals keep their order: event seen, trait changed, segment entered.
    [cara] = await ingest(profile, identify("m5", "cara", plan="pro"))
    call = profile.WatchSignals(pb.WatchSignalsRequest(parent=PARENT))
    kinds = []
    async with asyncio.timeout(10):
        async for response in call:
            if response.signal.customer == cara:
                kinds.append(response.signal.kind)
                if response.signal.kind == pb.SIGNAL_KIND_SEGMENT_ENTERED:
                    break
    call.cancel()
    assert kinds == [
        pb.SIGNAL_KIND_EVENT_SEEN,
        pb.SIGNAL_KIND_TRAIT_CHANGED,
        pb.SIGNAL_KIND_SEGMENT_ENTERED,
    ]

    await profile.DeleteSegment(pb.DeleteSegmentRequest(name=segment.name))
    await expect_error(
        profile.GetSegment(pb.GetSegmentRequest(name=segment.name)), grpc.StatusCode.NOT_FOUND
    )
    assert not (await profile.GetProfile(pb.GetProfileRequest(name=f"{cara}/profile"))).segments


async def test_rules_are_checked_when_saved(profile: Stub) -> None:
    _, bad = await expect_error(
        profile.CreateSegment(
            pb.CreateSegmentRequest(parent=PARENT, segment=pb.Segment(rule="traits.plan ==")),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="segment.rule",
    )
    assert bad is not None and "line 1, column" in bad.field_violations[0].description
    for rule, expected in [
        ("plan == 1", "undeclared reference to 'plan'"),
        ("shout(traits.a)", "unknown function 'shout'"),
        ("", "is empty"),
        # Rules that can never be true or false (saved, then failing for everyone, on
        # the old code).
        ('"abc"', "line 1, column 1: the rule is a string, never true or false"),
        ("traits.age + 1", "line 1, column 12: the rule has '+' at its top level"),
    ]:
        _, bad = await expect_error(
            profile.CreateSegment(
                pb.CreateSegmentRequest(parent=PARENT, segment=pb.Segment(rule=rule))
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="segment.rule",
        )
        assert bad is not None and expected in bad.field_violations[0].description
    await expect_error(
        profile.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT, segment_id="Bad_Id", segment=pb.Segment(rule="true")
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="segment_id",
    )
    await profile.CreateSegment(
        pb.CreateSegmentRequest(parent=PARENT, segment_id="all", segment=pb.Segment(rule="true"))
    )
    await expect_error(
        profile.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT, segment_id="all", segment=pb.Segment(rule="true")
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    _, bad = await expect_error(
        profile.UpdateLifeStageModel(
            pb.UpdateLifeStageModelRequest(
                life_stage_model=pb.LifeStageModel(
                    name=f"{PARENT}/lifeStageModel",
                    stages=[
                        pb.LifeStage(stage="a", rule="true"),
                        pb.LifeStage(stage="b", rule='life_stage == "a"'),
                    ],
                )
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="life_stage_model.stages[1].rule",
    )
    assert bad is not None and "life_stage" in bad.field_violations[0].description
    assert not (
        await profile.GetLifeStageModel(
            pb.GetLifeStageModelRequest(name=f"{PARENT}/lifeStageModel")
        )
    ).stages  # nothing saved


async def test_a_new_segment_is_filled_and_previews_save_nothing(profile: Stub) -> None:
    customers = await ingest(
        profile, *(identify(f"m{n}", f"user-{n}", seats=float(n)) for n in range(12))
    )
    preview = await profile.PreviewSegment(
        pb.PreviewSegmentRequest(parent=PARENT, rule="traits.seats >= 5.0", sample_size=3)
    )
    wanted = sorted(c for n, c in enumerate(customers) if n >= 5)
    assert preview.member_count == 7 and preview.evaluated_count == 12
    assert list(preview.sample_customers) == wanted[:3]
    assert not (await profile.ListSegments(pb.ListSegmentsRequest(parent=PARENT))).segments

    segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(parent=PARENT, segment=pb.Segment(rule="traits.seats >= 5.0"))
    )
    assert segment.HasField("next_evaluation_time")

    async def filled() -> bool:
        got = await profile.GetSegment(pb.GetSegmentRequest(name=segment.name))
        return got.HasField("last_evaluation_time") and got.member_count == 7

    await eventually(filled, timeout=10)
    got = await profile.GetSegment(pb.GetSegmentRequest(name=segment.name))
    assert not got.HasField("next_evaluation_time")  # not time-dependent: no schedule
    assert await members(profile, segment.name, page_size=2) == wanted
    listed = await profile.ListSegments(pb.ListSegmentsRequest(parent=PARENT, page_size=1))
    assert [s.name for s in listed.segments] == [segment.name] and not listed.next_page_token


async def test_time_dependent_rules_are_reevaluated_on_schedule_across_restarts(
    profile_server: Any,
) -> None:
    settings = {"segment_reevaluation_interval": 0.5, "segment_poll_interval": 0.2}
    soon = datetime.now(UTC) + timedelta(seconds=2)
    async with profile_server(**settings) as (stub, _):
        renewal = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
        [ann] = await ingest(
            stub, identify("m1", "ann", deadline=soon.isoformat(), renewal_date=renewal)
        )
        segment = await stub.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT,
                segment_id="past-deadline",
                segment=pb.Segment(rule="now > timestamp(traits.deadline)"),
            )
        )
        renewing = await stub.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT,
                segment_id="renewing",
                segment=pb.Segment(rule="days_until(traits.renewal_date) <= 30"),
            )
        )
        assert segment.time_dependent and renewing.time_dependent

        async def evaluated() -> bool:
            got = await stub.GetSegment(pb.GetSegmentRequest(name=segment.name))
            return got.HasField("last_evaluation_time")

        await eventually(evaluated, timeout=10)
        assert await members(stub, segment.name) == []
        await eventually(lambda: members(stub, renewing.name), timeout=10)
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
    # A new server on the same database: the schedule was stored, the deadline passed.
    async with profile_server(**settings) as (stub, _):
        await eventually(lambda: members(stub, segment.name), timeout=10)
        assert await members(stub, segment.name) == [ann]
        got = await stub.GetSegment(pb.GetSegmentRequest(name=segment.name))
        assert got.HasField("next_evaluation_time")
        entered = await signals_of(stub, [pb.SIGNAL_KIND_SEGMENT_ENTERED], 2)
        assert {s.segment_membership_changed.segment for s in entered} == {
            segment.name,
            renewing.name,
        }


async def test_life_stages_first_match_wins_and_changes_are_signals(profile: Stub) -> None:
    name = f"{PARENT}/lifeStageModel"
    model = await profile.UpdateLifeStageModel(
        pb.UpdateLifeStageModelRequest(
            life_stage_model=pb.LifeStageModel(
                name=name,
                stages=[
                    pb.LifeStage(
                        stage="customer", rule='has(traits.plan) && traits.plan != "free"'
                    ),
                    pb.LifeStage(stage="lead", rule="has(traits.email)"),
                ],
            )
        )
    )
    assert [s.stage for s in model.stages] == ["customer", "lead"]
    stored = await profile.GetLifeStageModel(pb.GetLifeStageModelRequest(name=name))
    # The evaluator may already have run the new model (recording when, and moving its
    # next evaluation).
    for message in (stored, model):
        message.ClearField("next_evaluation_time")
        message.ClearField("last_evaluation_time")
    assert stored == model
    stage_segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT,
            segment_id="customers",
            segment=pb.Segment(rule='life_stage == "customer"'),
        )
    )

    [ann] = await ingest(profile, identify("m1", "ann", email="ann@example.com", plan="free"))
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert view.life_stage == "lead" and not view.segments
    await ingest(profile, track("m2", "ann"))  # nothing a rule reads changed
    await ingest(profile, identify("m3", "ann", plan="team"))
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert view.life_stage == "customer" and list(view.segments) == [stage_segment.name]

    changes = await signals_of(profile, [pb.SIGNAL_KIND_LIFE_STAGE_CHANGED], 2)
    assert [(s.life_stage_changed.old_stage, s.life_stage_changed.new_stage) for s in changes] == [
        ("", "lead"),
        ("lead", "customer"),
    ]
    assert all(s.customer == ann for s in changes)


async def test_a_new_life_stage_model_reaches_every_customer(profile: Stub) -> None:
    [ann, bob] = await ingest(
        profile, identify("m1", "ann", plan="pro"), identify("m2", "bob", plan="free")
    )
    follows = await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT, segment_id="paying", segment=pb.Segment(rule='life_stage == "paying"')
        )
    )
    name = f"{PARENT}/lifeStageModel"
    model = await profile.UpdateLifeStageModel(
        pb.UpdateLifeStageModelRequest(
            life_stage_model=pb.LifeStageModel(
                name=name,
                stages=[
                    pb.LifeStage(stage="paying", rule='traits.plan != "free"'),
                    pb.LifeStage(stage="trying", rule="true"),
                ],
            )
        )
    )
    assert model.HasField("next_evaluation_time")

    async def evaluated() -> pb.LifeStageModel | None:
        got = await profile.GetLifeStageModel(pb.GetLifeStageModelRequest(name=name))
        return got if got.HasField("last_evaluation_time") else None

    got = await eventually(evaluated, timeout=10)
    assert not got.HasField("next_evaluation_time")  # no rule depends on time
    stages = {
        c: (await profile.GetProfile(pb.GetProfileRequest(name=f"{c}/profile"))).life_stage
        for c in (ann, bob)
    }
    assert stages == {ann: "paying", bob: "trying"}
    # The segment reading the stage followed.
    await eventually(lambda: members(profile, follows.name), timeout=10)
    assert await members(profile, follows.name) == [ann]
    changes = await signals_of(profile, [pb.SIGNAL_KIND_LIFE_STAGE_CHANGED], 2)
    assert {(s.customer, s.life_stage_changed.new_stage) for s in changes} == {
        (ann, "paying"),
        (bob, "trying"),
    }
