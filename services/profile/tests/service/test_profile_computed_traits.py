"""Computed traits over gRPC: each kind over a window with event and property filters,
updated by every ingested event, backfilled by a job with progress, usable in segments;
and, as properties, per-day buckets give what a scan of the events in the window gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.grpctesting import eventually, expect_error
from rapport.profile.domain.computed import Bucket, ComputedTrait, Kind, day_number, values_for
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

Stub = profile_service_pb2_grpc.ProfileServiceStub
PARENT = "workspaces/default"


def order(message_id: str, user_id: str, days_ago: float = 0, **properties: Any) -> pb.Event:
    event = pb.Event(
        type=pb.EVENT_TYPE_TRACK, message_id=message_id, user_id=user_id, event="Order Completed"
    )
    event.properties.update(properties)
    now = datetime.now(UTC)
    event.sent_time.FromDatetime(now)
    event.original_time.FromDatetime(now - timedelta(days=days_ago))
    return event


async def ingest(stub: Stub, *events: pb.Event) -> list[str]:
    reply = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=events))
    assert [r.status for r in reply.results] == [pb.INGEST_STATUS_ACCEPTED] * len(events)
    return [r.customer for r in reply.results]


async def create(stub: Stub, key: str, kind: int, prop: str = "", **extra: Any) -> pb.ComputedTrait:
    return await stub.CreateComputedTrait(
        pb.CreateComputedTraitRequest(
            parent=PARENT,
            computed_trait=pb.ComputedTrait(
                key=key, kind=kind, event="Order Completed", property=prop, **extra
            ),
        )
    )


def plain(profile: pb.Profile) -> dict[str, Any]:
    return {key: _value(value) for key, value in profile.computed_traits.items()}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "list_value":
        return [_value(v) for v in value.list_value.values]
    return getattr(value, kind) if kind != "null_value" else None


async def test_every_kind_over_its_window_with_filters(profile: Stub) -> None:
    kinds = {
        "orders": (pb.COMPUTED_TRAIT_KIND_COUNT, ""),
        "spent": (pb.COMPUTED_TRAIT_KIND_SUM, "total"),
        "basket": (pb.COMPUTED_TRAIT_KIND_AVERAGE, "total"),
        "cheapest": (pb.COMPUTED_TRAIT_KIND_MIN, "total"),
        "dearest": (pb.COMPUTED_TRAIT_KIND_MAX, "total"),
        "favourite": (pb.COMPUTED_TRAIT_KIND_MOST_FREQUENT, "sku"),
        "first_sku": (pb.COMPUTED_TRAIT_KIND_FIRST, "sku"),
        "last_sku": (pb.COMPUTED_TRAIT_KIND_LAST, "sku"),
        "skus": (pb.COMPUTED_TRAIT_KIND_UNIQUE_LIST, "sku"),
        "sku_count": (pb.COMPUTED_TRAIT_KIND_UNIQUE_COUNT, "sku"),
    }
    for key, (kind, prop) in kinds.items():
        await create(profile, key, kind, prop, window_days=30)
    euro = struct_pb2.Value(string_value="EUR")
    await create(profile, "euro_orders", pb.COMPUTED_TRAIT_KIND_COUNT, filter={"currency": euro})

    [ann, *_] = await ingest(
        profile,
        order("o1", "ann", 3, sku="A", total=10, currency="EUR"),
        order("o2", "ann", 2, sku="B", total=30, currency="USD"),
        order("o3", "ann", 1, sku="B", total=20, currency="EUR"),
        order("old", "ann", 40, sku="Z", total=1000, currency="EUR"),  # outside 30 days
        order("no-total", "ann", 1, sku="C", total="n/a"),  # not a number: sums skip it
        pb.Event(type=pb.EVENT_TYPE_TRACK, message_id="other", user_id="ann", event="Signed In"),
    )
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert plain(view) == {
        "orders": 4,
        "spent": 60.0,
        "basket": 20.0,
        "cheapest": 10.0,
        "dearest": 30.0,
        "favourite": "B",
        "first_sku": "A",
        "last_sku": "C",
        "skus": ["A", "B", "C"],
        "sku_count": 3,
        "euro_orders": 3,  # 90 days by default: the old one counts
    }
    listed = await profile.ListComputedTraits(pb.ListComputedTraitsRequest(parent=PARENT))
    assert len(listed.computed_traits) == 11


async def test_a_new_trait_is_backfilled_by_a_job_then_kept_up_to_date(profile: Stub) -> None:
    customers = await ingest(
        profile, *(order(f"o{n}", f"user-{n % 3}", n % 5, total=n) for n in range(30))
    )
    trait = await create(profile, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
    assert trait.backfill_job == f"{trait.name}/backfillJobs/initial"

    async def done() -> pb.BackfillJob | None:
        job = await profile.GetBackfillJob(pb.GetBackfillJobRequest(name=trait.backfill_job))
        return job if job.state == pb.BACKFILL_JOB_STATE_SUCCEEDED else None

    job = await eventually(done, timeout=10)
    assert (job.processed_event_count, job.total_event_count, job.progress_percent) == (30, 30, 100)
    jobs = await profile.ListBackfillJobs(pb.ListBackfillJobsRequest(parent=trait.name))
    assert [j.name for j in jobs.backfill_jobs] == [trait.backfill_job]

    ann = customers[0]
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert view.computed_traits["orders"].number_value == 10
    await ingest(profile, order("late", "user-0"))  # counted once, by ingestion
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert view.computed_traits["orders"].number_value == 11

    await profile.DeleteComputedTrait(pb.DeleteComputedTraitRequest(name=trait.name))
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert "orders" not in view.computed_traits
    await expect_error(
        profile.GetBackfillJob(pb.GetBackfillJobRequest(name=trait.backfill_job)),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_segments_read_computed_traits_in_real_time(profile: Stub) -> None:
    await create(profile, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
    segment = await profile.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT,
            segment_id="repeat-buyers",
            segment=pb.Segment(rule="computed_traits.orders >= 2"),
        )
    )
    assert segment.time_dependent  # windows slide
    [ann] = await ingest(profile, order("o1", "ann"))
    assert not (await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))).segments
    await ingest(profile, order("o2", "ann"))
    view = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert list(view.segments) == [segment.name]


async def test_definitions_are_checked(profile: Stub) -> None:
    await expect_error(
        create(profile, "spent", pb.COMPUTED_TRAIT_KIND_SUM),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.property",
    )
    await expect_error(
        create(profile, "Bad Key", pb.COMPUTED_TRAIT_KIND_COUNT),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.key",
    )
    await expect_error(
        create(profile, "n", pb.COMPUTED_TRAIT_KIND_COUNT, window_days=5000),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.window_days",
    )
    await expect_error(
        create(profile, "n", pb.COMPUTED_TRAIT_KIND_UNSPECIFIED),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="computed_trait.kind",
    )
    await create(profile, "n", pb.COMPUTED_TRAIT_KIND_COUNT)
    await expect_error(
        create(profile, "n", pb.COMPUTED_TRAIT_KIND_COUNT), grpc.StatusCode.ALREADY_EXISTS
    )


# -- buckets, as properties -----------------------------------------------------------

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
EVENTS = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=60 * 86_400),  # seconds before NOW
        st.sampled_from(["A", "B", "C", "D"]),
        st.integers(min_value=-50, max_value=50),
    ),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(EVENTS, st.sampled_from(list(Kind)), st.integers(min_value=1, max_value=45))
def test_day_buckets_give_what_a_scan_of_the_window_gives(
    events: list[tuple[float, str, int]], kind: Kind, window: int
) -> None:
    trait = ComputedTrait("w", "t", "k", kind, window, "", {}, "p", NOW, "initial")
    buckets: dict[tuple[str, int], Bucket] = {}
    for seconds, sku, amount in events:
        moment = NOW - timedelta(seconds=seconds)
        value = float(amount) if kind in (Kind.SUM, Kind.AVERAGE, Kind.MIN, Kind.MAX) else sku
        buckets.setdefault(("t", day_number(moment)), Bucket()).add(kind, value, moment)
    got = values_for([trait], buckets, NOW).get("k")

    start = day_number(NOW) - window + 1
    inside = [
        (NOW - timedelta(seconds=s), sku, float(a))
        for s, sku, a in events
        if day_number(NOW - timedelta(seconds=s)) >= start
    ]
    numbers = [a for _, _, a in inside]
    skus = [sku for _, sku, _ in inside]
    expected: Any = {
        Kind.COUNT: len(inside),
        Kind.SUM: sum(numbers) if inside else None,
        Kind.AVERAGE: sum(numbers) / len(numbers) if inside else None,
        Kind.MIN: min(numbers, default=None),
        Kind.MAX: max(numbers, default=None),
        Kind.UNIQUE_COUNT: len(set(skus)),
        Kind.UNIQUE_LIST: sorted(set(skus)) if inside else None,
        Kind.MOST_FREQUENT: (
            min(set(skus), key=lambda s: (-skus.count(s), json.dumps(s))) if inside else None
        ),
        Kind.FIRST: min(inside, key=lambda e: e[0])[1] if inside else None,
        Kind.LAST: max(inside, key=lambda e: e[0])[1] if inside else None,
    }[kind]
    if kind in (Kind.SUM, Kind.AVERAGE) and expected is not None:
        assert abs(got - expected) < 1e-6
    elif kind in (Kind.FIRST, Kind.LAST) and inside:
        # Ties in time may pick either event of that instant.
        moments = [m for m, _, _ in inside]
        edge = min(moments) if kind is Kind.FIRST else max(moments)
        assert got in {sku for m, sku, _ in inside if m == edge}
    else:
        assert got == expected
