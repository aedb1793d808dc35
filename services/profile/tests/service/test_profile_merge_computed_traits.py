"""A merge combines the customers' computed traits, and segments reading them follow,
whether or not the merged customer belonged to a group (its per-day buckets used to
move to the survivor only along with group memberships): through identity's answer to
an ingest, and through a merge made in identity by another client. An erasure also
forgets the buckets earlier releases left under a merged customer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapport.grpctesting import eventually
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.profile.domain.computed import Bucket, Kind
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.hygiene import erase_profile
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._profile_support import merge_into
from ..conftest import make_event
from .test_profile_computed_traits import create, ingest, order, plain
from .test_profile_handlers import identify, make_deps
from .test_profile_handlers import ingest as ingest_events
from .test_profile_identity_follow import identity_server, profile_of, profile_server

PARENT = "workspaces/default"
Stub = Any


async def _orders_and_big_spenders(stub: Stub) -> str:
    """Computed traits counting and summing orders, and a segment reading them; the
    segment's name."""
    await create(stub, "orders", pb.COMPUTED_TRAIT_KIND_COUNT)
    await create(stub, "spent", pb.COMPUTED_TRAIT_KIND_SUM, "total")
    segment = await stub.CreateSegment(
        pb.CreateSegmentRequest(
            parent=PARENT,
            segment_id="big-spenders",
            segment=pb.Segment(rule="computed_traits.spent >= 15.0"),
        )
    )
    return str(segment.name)


async def _one_order_each(stub: Stub) -> tuple[str, str]:
    """ann (user id) and an anonymous visitor, neither in any group, one order each."""
    anonymous = order("o-anon", "", total=5)
    anonymous.anonymous_id = "anon-1"
    ann, anon = await ingest(stub, order("o-ann", "ann", days_ago=2, total=10), anonymous)
    assert ann != anon
    for customer, spent in ((ann, 10.0), (anon, 5.0)):
        profile = await profile_of(stub, customer)
        assert profile is not None
        assert plain(profile) == {"orders": 1.0, "spent": spent}
        assert list(profile.groups) == [] and list(profile.segments) == []
    return ann, anon


async def test_a_merge_reported_by_identity_on_ingest_combines_computed_traits(
    profile: Stub,
) -> None:
    segment = await _orders_and_big_spenders(profile)
    await _one_order_each(profile)

    survivor = await merge_into(profile, make_event, "ann", "anon-1")

    merged = await profile.GetProfile(pb.GetProfileRequest(name=f"{survivor}/profile"))
    assert merged.event_count == 3
    assert plain(merged) == {"orders": 2.0, "spent": 15.0}
    assert list(merged.segments) == [segment]
    members = await profile.ListSegmentMembers(pb.ListSegmentMembersRequest(segment=segment))
    assert [m.customer for m in members.members] == [survivor]


async def test_a_merge_made_in_identity_combines_computed_traits(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as (identity, address):
        async with profile_server(tmp_path, address) as stub:
            segment = await _orders_and_big_spenders(stub)
            ann, anon = await _one_order_each(stub)

            merged = await identity.Resolve(
                ipb.ResolveRequest(
                    parent=PARENT,
                    identifiers=[
                        identifier_pb2.Identifier(type="user_id", value="ann"),
                        identifier_pb2.Identifier(type="anonymous_id", value="anon-1"),
                    ],
                    source="crm",
                )
            )
            survivor = merged.customer.name
            [gone] = merged.merged_customers
            assert {survivor, gone} == {ann, anon}

            async def combined() -> bool:
                view = await profile_of(stub, gone)
                return view is not None and view.event_count == 2

            await eventually(combined, timeout=10)
            view = await profile_of(stub, survivor)
            assert view is not None
            assert plain(view) == {"orders": 2.0, "spent": 15.0}
            assert list(view.segments) == [segment]

            # Undone in identity: each takes back its own order, and leaves the segment.
            await identity.UnmergeCustomer(ipb.UnmergeCustomerRequest(name=survivor))

            async def split() -> bool:
                view = await profile_of(stub, gone)
                return view is not None and view.customer == gone

            await eventually(split, timeout=10)
            for customer, spent in ((ann, 10.0), (anon, 5.0)):
                view = await profile_of(stub, customer)
                assert view is not None
                assert plain(view) == {"orders": 1.0, "spent": spent}
                assert list(view.segments) == []


async def test_an_erasure_forgets_buckets_left_under_a_merged_customer(tmp_path: Path) -> None:
    deps, engine = await make_deps(tmp_path)
    try:
        await ingest_events(deps, identify("e1", user_id="ann"), identify("e2", anonymous_id="a1"))
        [merge] = await ingest_events(deps, identify("e3", user_id="ann", anonymous_id="a1"))
        survivor = merge.customer_id
        async with deps.uow(readonly=True) as uow:
            [merged] = await uow.hygiene.merged_into("default", survivor)
        # What a merge of an earlier release left: the merged customer's own buckets.
        left = Bucket()
        left.add(Kind.UNIQUE_LIST, "a value of theirs", datetime.now(UTC))
        async with deps.uow() as uow:
            await uow.computed.add_to_buckets("default", {(merged, "ct-1", 1): left})
            await uow.commit()
        async with deps.uow(readonly=True) as uow:
            held = await uow.computed.buckets_of("default", [merged], since_day=0)
        assert held == {merged: {("ct-1", 1): left}}

        await erase_profile(commands.EraseProfile(f"{PARENT}/customers/{survivor}/profile"), deps)

        async with deps.uow(readonly=True) as uow:
            held = await uow.computed.buckets_of("default", [survivor, merged], since_day=0)
        assert held == {survivor: {}, merged: {}}
    finally:
        await engine.dispose()
