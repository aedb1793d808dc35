"""ListProfiles (AIP-132 under `customers/-`): every profile of a workspace in customer
order, page by page; `has_trait` keeps those holding a trait; `read_mask` chooses the
fields (decisioning reads only a date and a time zone this way)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import field_mask_pb2
from rapport.grpctesting import expect_error
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import DOMAIN

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"
Stub = Any


async def ingest(stub: Stub, event_factory: Any, count: int) -> list[str]:
    """Customers u-0..u-{count-1}; the even ones hold a renewal date."""
    answer = await stub.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[
                event_factory(
                    f"m-{n}",
                    type=pb.EVENT_TYPE_IDENTIFY,
                    user_id=f"u-{n}",
                    traits={
                        "plan": f"p{n}",
                        "tz": "Europe/Paris",
                        **({"renewal": f"2027-01-{n + 1:02d}"} if n % 2 == 0 else {}),
                    },
                )
                for n in range(count)
            ],
        )
    )
    return [result.customer for result in answer.results]


async def invalid(call: Any, field: str) -> None:
    await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN, field=field)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def list_all(stub: Stub, **fields: Any) -> list[pb.Profile]:
    found: list[pb.Profile] = []
    token = ""
    while True:
        page = await stub.ListProfiles(
            pb.ListProfilesRequest(parent=ALL, page_token=token, **fields)
        )
        assert len(page.profiles) <= fields.get("page_size", 50)
        found.extend(page.profiles)
        token = page.next_page_token
        if not token:
            return found


async def test_pages_go_over_every_profile_in_customer_order(
    profile: Stub, event_factory: Any
) -> None:
    made = await ingest(profile, event_factory, 7)
    listed = await list_all(profile, page_size=3)
    assert [p.customer for p in listed] == sorted(made)
    # Without a read_mask: the listable fields, as GetProfile has them.
    single = await profile.GetProfile(pb.GetProfileRequest(name=listed[0].name))
    assert listed[0].traits == single.traits
    assert listed[0].event_count == single.event_count == 1
    assert listed[0].last_seen_time == single.last_seen_time


async def test_has_trait_keeps_the_holders_and_a_removal_drops_one(
    profile: Stub, event_factory: Any
) -> None:
    made = await ingest(profile, event_factory, 6)
    holders = sorted(made[n] for n in (0, 2, 4))
    listed = await list_all(profile, page_size=2, has_trait="renewal")
    assert [p.customer for p in listed] == holders
    await profile.RemoveTraits(pb.RemoveTraitsRequest(name=f"{made[2]}/profile", keys=["renewal"]))
    listed = await list_all(profile, has_trait="renewal")
    assert [p.customer for p in listed] == sorted(made[n] for n in (0, 4))


async def test_read_mask_selects_traits_and_fields(profile: Stub, event_factory: Any) -> None:
    made = await ingest(profile, event_factory, 2)
    [first] = await list_all(
        profile, has_trait="renewal", read_mask=mask("traits.renewal", "traits.tz")
    )
    assert first.customer == made[0] and first.name == f"{made[0]}/profile"
    assert set(first.traits) == {"renewal", "tz"}
    assert first.traits["renewal"].value.string_value == "2027-01-01"
    assert first.traits["renewal"].HasField("value_time")
    assert first.event_count == 0 and not first.HasField("last_seen_time")
    [only_count, _] = await list_all(profile, read_mask=mask("event_count"))
    assert not only_count.traits and only_count.event_count == 1
    everything = {
        p.customer: p for p in await list_all(profile, read_mask=mask("traits", "first_seen_time"))
    }
    assert set(everything[made[0]].traits) == {"plan", "tz", "renewal"}
    assert set(everything[made[1]].traits) == {"plan", "tz"}
    assert everything[made[0]].HasField("first_seen_time")


async def test_bad_input_names_the_field(profile: Stub, event_factory: Any) -> None:
    await ingest(profile, event_factory, 3)
    bad = [
        ({"parent": PARENT}, "parent"),
        ({"parent": "workspaces/default/customers/c1"}, "parent"),
        ({"parent": ALL, "read_mask": mask("traits", "segments")}, "read_mask.paths[1]"),
        ({"parent": ALL, "read_mask": mask("traits.")}, "read_mask.paths[0]"),
        ({"parent": ALL, "read_mask": mask("bogus")}, "read_mask.paths[0]"),
        ({"parent": ALL, "has_trait": "a\x00b"}, "has_trait"),
        ({"parent": ALL, "page_size": -1}, "page_size"),
        ({"parent": ALL, "page_token": "garbage"}, "page_token"),
    ]
    for fields, field in bad:
        await invalid(profile.ListProfiles(pb.ListProfilesRequest(**fields)), field)
    # A token goes on only the listing it came from.
    first = await profile.ListProfiles(pb.ListProfilesRequest(parent=ALL, page_size=1))
    await invalid(
        profile.ListProfiles(
            pb.ListProfilesRequest(
                parent=ALL, page_size=1, page_token=first.next_page_token, has_trait="renewal"
            )
        ),
        "page_token",
    )


async def test_other_workspaces_are_kept_apart(profile_server: Any, event_factory: Any) -> None:
    async with profile_server(workspaces=["default", "other"]) as (stub, _running):
        await ingest(stub, event_factory, 3)
        page = await stub.ListProfiles(
            pb.ListProfilesRequest(parent="workspaces/other/customers/-")
        )
        assert list(page.profiles) == [] and not page.next_page_token
        # A token of one workspace does not page another.
        first = await stub.ListProfiles(pb.ListProfilesRequest(parent=ALL, page_size=1))
        await invalid(
            stub.ListProfiles(
                pb.ListProfilesRequest(
                    parent="workspaces/other/customers/-", page_token=first.next_page_token
                )
            ),
            "page_token",
        )
        await expect_error(
            stub.ListProfiles(pb.ListProfilesRequest(parent="workspaces/nope/customers/-")),
            grpc.StatusCode.NOT_FOUND,
        )
