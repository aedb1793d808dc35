"""Traits keep their source and event time; late events never overwrite newer values;
RemoveTraits and `null` remove a trait for good (an older event cannot bring it back);
date traits carry the instant they name; GetProfile's cache never serves a stale one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.grpctesting import expect_error
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import DOMAIN, expect_invalid, watch

PARENT = "workspaces/default"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
Stub = Any


def at(minute: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(T0 + timedelta(minutes=minute))
    return stamp


async def identify(stub: Stub, event_factory: Any, message_id: str, minute: int, **traits: Any):
    event = event_factory(
        message_id,
        type=pb.EVENT_TYPE_IDENTIFY,
        user_id="ann",
        traits=traits,
        original_time=at(minute),
        context={"library": {"name": "analytics.js", "version": "4.1"}},
    )
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=[event]))
    return answer.results[0]


async def get(stub: Stub, customer: str) -> pb.Profile:
    return await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))


async def test_traits_keep_their_source_and_event_time(profile: Stub, event_factory: Any) -> None:
    result = await identify(profile, event_factory, "m-1", 5, plan="pro", renewal="2025-03-01")
    got = await get(profile, result.customer)
    plan = got.traits["plan"]
    assert plan.source_message_id == "m-1" and plan.update_time == at(5)
    assert plan.source.event_type == pb.EVENT_TYPE_IDENTIFY
    assert (plan.source.library_name, plan.source.library_version) == ("analytics.js", "4.1")
    assert not plan.source.method and not plan.HasField("value_time")
    renewal = got.traits["renewal"]
    assert renewal.value.string_value == "2025-03-01"
    assert renewal.value_time.ToDatetime(tzinfo=UTC) == datetime(2025, 3, 1, tzinfo=UTC)


async def test_a_late_event_never_overwrites_a_newer_value(
    profile: Stub, event_factory: Any
) -> None:
    result = await identify(profile, event_factory, "new", 10, plan="pro")
    await identify(profile, event_factory, "late", 1, plan="free", city="Oslo")
    got = await get(profile, result.customer)
    assert got.traits["plan"].value.string_value == "pro"
    assert got.traits["city"].value.string_value == "Oslo"


async def test_null_removes_a_trait_and_an_older_event_does_not_bring_it_back(
    profile: Stub, event_factory: Any
) -> None:
    result = await identify(profile, event_factory, "m-1", 1, plan="pro", city="Oslo")
    await identify(profile, event_factory, "m-2", 5, plan=None)
    got = await get(profile, result.customer)
    assert "plan" not in got.traits and got.traits["city"].value.string_value == "Oslo"
    await identify(profile, event_factory, "m-3", 3, plan="free")  # older than the removal
    assert "plan" not in (await get(profile, result.customer)).traits
    await identify(profile, event_factory, "m-4", 9, plan="team")  # newer: set again
    assert (await get(profile, result.customer)).traits["plan"].value.string_value == "team"

    changes = [
        r.signal.trait_changed
        for r in await watch(profile, 8)
        if r.signal.HasField("trait_changed")
    ]
    removal = [c for c in changes if c.removed]
    assert len(removal) == 1 and removal[0].key == "plan"
    assert removal[0].old_value.string_value == "pro" and not removal[0].HasField("new_value")
    assert removal[0].source_message_id == "m-2"
    assert removal[0].source.event_type == pb.EVENT_TYPE_IDENTIFY


async def test_remove_traits(profile: Stub, event_factory: Any) -> None:
    result = await identify(profile, event_factory, "m-1", 1, plan="pro", city="Oslo")
    before = await get(profile, result.customer)  # now cached
    assert "plan" in before.traits
    after = await profile.RemoveTraits(
        pb.RemoveTraitsRequest(name=f"{result.customer}/profile", keys=["plan", "never_set"])
    )
    assert set(after.traits) == {"city"} and after.event_count == 1
    assert set((await get(profile, result.customer)).traits) == {"city"}  # not the cached one
    # The removal is as of the call: an event from 2024 arriving now does not undo it,
    # not even for a key the profile did not hold.
    await identify(profile, event_factory, "m-2", 2, plan="free", never_set="x", age=40)
    assert set((await get(profile, result.customer)).traits) == {"city", "age"}

    changes = [
        r.signal.trait_changed
        for r in await watch(profile, 5, kinds=[pb.SIGNAL_KIND_TRAIT_CHANGED])
    ]
    [removal] = [c for c in changes if c.removed]
    assert removal.key == "plan" and removal.source.method == "RemoveTraits"
    assert not removal.source_message_id


async def test_remove_traits_errors(profile: Stub, event_factory: Any) -> None:
    result = await identify(profile, event_factory, "m-1", 1, plan="pro")
    name = f"{result.customer}/profile"
    await expect_invalid(profile.RemoveTraits(pb.RemoveTraitsRequest(name=name)), "keys")
    await expect_invalid(
        profile.RemoveTraits(pb.RemoveTraitsRequest(name=name, keys=["a", ""])), "keys[1]"
    )
    await expect_invalid(
        profile.RemoveTraits(pb.RemoveTraitsRequest(name=name, keys=["a\x00"])), "keys[0]"
    )
    await expect_invalid(
        profile.RemoveTraits(pb.RemoveTraitsRequest(name=name, keys=[str(n) for n in range(101)])),
        "keys",
    )
    await expect_invalid(profile.RemoveTraits(pb.RemoveTraitsRequest(keys=["a"])), "name")
    missing = "workspaces/default/customers/nobody/profile"
    await expect_error(
        profile.RemoveTraits(pb.RemoveTraitsRequest(name=missing, keys=["plan"])),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    assert "plan" in (await get(profile, result.customer)).traits


async def test_the_cache_never_serves_a_profile_older_than_an_acknowledged_write(
    profile: Stub, event_factory: Any
) -> None:
    result = await identify(profile, event_factory, "m-0", 0, n=0)
    for n in range(1, 6):
        assert (await get(profile, result.customer)).traits["n"].value.number_value == n - 1
        await identify(profile, event_factory, f"m-{n}", n, n=n)
        got = await get(profile, result.customer)
        assert got.traits["n"].value.number_value == n and got.event_count == n + 1
