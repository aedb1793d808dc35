"""BatchGetProfiles (AIP-231): the profiles of many customers in one call, in request
order, the same bytes GetProfile answers (cached or read); all or nothing."""

from __future__ import annotations

from typing import Any

import grpc
from rapport.grpctesting import expect_error
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import DOMAIN

PARENT = "workspaces/default"
Stub = Any


async def customers(stub: Stub, event_factory: Any, count: int) -> list[str]:
    answer = await stub.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[
                event_factory(
                    f"m-{n}",
                    type=pb.EVENT_TYPE_IDENTIFY,
                    user_id=f"u-{n}",
                    traits={"plan": f"p{n}"},
                )
                for n in range(count)
            ],
        )
    )
    return [result.customer for result in answer.results]


def profile_names(customers: list[str]) -> list[str]:
    return [f"{customer}/profile" for customer in customers]


async def test_profiles_come_in_request_order_as_get_profile_gives_them(
    profile: Stub, event_factory: Any
) -> None:
    made = await customers(profile, event_factory, 5)
    asked = profile_names([made[3], made[0], made[4], made[0]])
    # Cold (read), then warm (cached): the same answer both times.
    for _ in range(2):
        answer = await profile.BatchGetProfiles(
            pb.BatchGetProfilesRequest(parent=PARENT, names=asked)
        )
        assert [p.customer for p in answer.profiles] == [made[3], made[0], made[4], made[0]]
        singles = [await profile.GetProfile(pb.GetProfileRequest(name=n)) for n in asked]
        assert list(answer.profiles) == singles
        assert answer.profiles[0].traits["plan"].value.string_value == "p3"


async def test_a_merged_away_customer_gets_the_survivors_profile(
    profile: Stub, event_factory: Any
) -> None:
    a, b = await customers(profile, event_factory, 2)
    # One event carrying both users' ids: identity merges b into a (the older).
    await profile.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[event_factory("m-merge", user_id="u-1", anonymous_id="anon")],
        )
    )
    await profile.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[event_factory("m-merge-2", user_id="u-0", anonymous_id="anon")],
        )
    )
    answer = await profile.BatchGetProfiles(
        pb.BatchGetProfilesRequest(parent=PARENT, names=profile_names([b, a]))
    )
    survivors = {p.customer for p in answer.profiles}
    assert survivors == {a}  # the older customer survives


async def test_all_or_nothing_and_bad_names(profile: Stub, event_factory: Any) -> None:
    [made] = await customers(profile, event_factory, 1)
    missing = f"{PARENT}/customers/nobody/profile"
    info, _ = await expect_error(
        profile.BatchGetProfiles(
            pb.BatchGetProfilesRequest(parent=PARENT, names=[f"{made}/profile", missing])
        ),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    assert info.metadata["resource"] == missing
    cases = [
        (pb.BatchGetProfilesRequest(parent=PARENT), "names"),
        (pb.BatchGetProfilesRequest(parent=PARENT, names=["x"] * 1001), "names"),
        (pb.BatchGetProfilesRequest(parent=PARENT, names=[f"{made}/profile", "nope"]), "names[1]"),
        (
            pb.BatchGetProfilesRequest(
                parent=PARENT, names=["workspaces/other/customers/c/profile"]
            ),
            "names[0]",
        ),
        (pb.BatchGetProfilesRequest(parent="nope", names=[f"{made}/profile"]), "parent"),
    ]
    for request, field in cases:
        await expect_error(
            profile.BatchGetProfiles(request), grpc.StatusCode.INVALID_ARGUMENT, field=field
        )
    await expect_error(
        profile.BatchGetProfiles(
            pb.BatchGetProfilesRequest(
                parent="workspaces/unserved", names=["workspaces/unserved/customers/c/profile"]
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )
