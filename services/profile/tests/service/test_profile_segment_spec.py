"""Segment-spec semantics through the gRPC stub: a result per event, replays stored
once, group traits on the group (not on the person), alias, page and screen."""

from __future__ import annotations

from typing import Any

import grpc
from rapport.grpctesting import expect_error
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import DOMAIN, expect_invalid, expect_rejected, watch

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"
LIBRARY = {"library": {"name": "analytics-python", "version": "2.3.3"}}
Stub = Any


async def ingest(stub: Stub, *events: pb.Event) -> pb.IngestEventsResponse:
    return await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))


async def stored_ids(stub: Stub) -> list[str]:
    page = await stub.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    return sorted(e.message_id for e in page.events)


async def test_each_event_gets_its_own_result(profile: Stub, event_factory: Any) -> None:
    await ingest(profile, event_factory("old", user_id="ann"))
    answer = await ingest(
        profile,
        event_factory("new", user_id="ann"),
        event_factory("old", user_id="ann"),
        event_factory("bad", type=pb.EVENT_TYPE_TRACK, event=""),
        event_factory("new", user_id="ann"),
    )
    statuses = [r.status for r in answer.results]
    assert statuses == [
        pb.INGEST_STATUS_ACCEPTED,
        pb.INGEST_STATUS_DUPLICATE,
        pb.INGEST_STATUS_REJECTED,
        pb.INGEST_STATUS_DUPLICATE,
    ]
    new, old, _, repeat = answer.results
    # Results name the stored event: the duplicates name the event stored first.
    assert (await profile.GetEvent(pb.GetEventRequest(name=new.event))).message_id == "new"
    assert (await profile.GetEvent(pb.GetEventRequest(name=old.event))).message_id == "old"
    assert repeat.event == new.event and repeat.customer == new.customer
    expect_rejected(answer, 2, "events[2].event")
    assert await stored_ids(profile) == ["new", "old"]


async def test_an_event_replayed_five_times_is_stored_once(
    profile: Stub, event_factory: Any
) -> None:
    sent = event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"a": 1})
    answers = [await ingest(profile, sent) for _ in range(5)]
    assert [a.results[0].status for a in answers] == [pb.INGEST_STATUS_ACCEPTED] + [
        pb.INGEST_STATUS_DUPLICATE
    ] * 4
    assert len({a.results[0].event for a in answers}) == 1
    assert await stored_ids(profile) == ["m-1"]
    profile_name = answers[0].results[0].customer + "/profile"
    got = await profile.GetProfile(pb.GetProfileRequest(name=profile_name))
    assert got.event_count == 1
    signals = await watch(profile, 3)
    assert [s.signal.kind for s in signals] == [
        pb.SIGNAL_KIND_EVENT_SEEN,
        pb.SIGNAL_KIND_TRAIT_CHANGED,
    ]  # nothing for the replays


def group_event(event_factory: Any, message_id: str, user: str, group: str, **traits: Any) -> Any:
    return event_factory(
        message_id,
        type=pb.EVENT_TYPE_GROUP,
        user_id=user,
        group_id=group,
        traits=traits,
        context=LIBRARY,
    )


async def test_group_traits_go_on_the_group_not_the_person(
    profile: Stub, event_factory: Any
) -> None:
    answer = await ingest(
        profile,
        event_factory("i-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"plan": "pro"}),
        group_event(event_factory, "g-1", "ann", "Acme Inc.", name="Acme", employees=120),
        group_event(event_factory, "g-2", "bob", "Acme Inc.", plan="enterprise"),
        group_event(event_factory, "g-3", "ann", "Acme Inc."),  # already a member
        group_event(event_factory, "g-4", "ann", "Globex"),
    )
    assert {r.status for r in answer.results} == {pb.INGEST_STATUS_ACCEPTED}
    ann, bob = answer.results[0].customer, answer.results[2].customer
    person = await profile.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert dict(person.traits).keys() == {"plan"}  # no group trait on the person
    assert len(person.groups) == 2
    acme = await profile.GetGroup(pb.GetGroupRequest(name=person.groups[0]))
    assert acme.group_id == "Acme Inc." and acme.member_count == 2
    assert {k: v.value for k, v in acme.traits.items()}.keys() == {"name", "employees", "plan"}
    name = acme.traits["name"]
    assert name.value.string_value == "Acme" and name.source_message_id == "g-1"
    assert name.source.event_type == pb.EVENT_TYPE_GROUP
    assert (name.source.library_name, name.source.library_version) == ("analytics-python", "2.3.3")
    assert acme.create_time.seconds > 0 and acme.update_time.seconds > 0
    globex = await profile.GetGroup(pb.GetGroupRequest(name=person.groups[1]))
    assert globex.group_id == "Globex" and globex.member_count == 1 and not globex.traits
    bobs = await profile.GetProfile(pb.GetProfileRequest(name=f"{bob}/profile"))
    assert list(bobs.groups) == [acme.name] and not bobs.traits

    members = await profile.ListGroupMembers(pb.ListGroupMembersRequest(group=acme.name))
    assert sorted(m.customer for m in members.members) == sorted([ann, bob])
    by_customer = {m.customer: m.source_message_id for m in members.members}
    assert by_customer == {ann: "g-1", bob: "g-2"}
    listed = await profile.ListGroups(pb.ListGroupsRequest(parent=PARENT))
    assert sorted(g.group_id for g in listed.groups) == ["Acme Inc.", "Globex"]


async def test_groups_and_members_page(profile: Stub, event_factory: Any) -> None:
    await ingest(
        profile,
        *(group_event(event_factory, f"g-{n}", f"user-{n}", f"group-{n % 3}") for n in range(7)),
    )
    seen, token = [], ""
    while True:
        page = await profile.ListGroups(
            pb.ListGroupsRequest(parent=PARENT, page_size=2, page_token=token)
        )
        seen += [g.group_id for g in page.groups]
        if not (token := page.next_page_token):
            break
    assert sorted(seen) == ["group-0", "group-1", "group-2"]
    [zero] = [
        g
        for g in (await profile.ListGroups(pb.ListGroupsRequest(parent=PARENT))).groups
        if g.group_id == "group-0"
    ]
    assert zero.member_count == 3  # users 0, 3, 6
    members, token = [], ""
    while True:
        page = await profile.ListGroupMembers(
            pb.ListGroupMembersRequest(group=zero.name, page_size=2, page_token=token)
        )
        members += [m.customer for m in page.members]
        if not (token := page.next_page_token):
            break
    assert len(members) == 3 and members == sorted(members)


async def test_group_errors(profile: Stub, event_factory: Any) -> None:
    missing = "workspaces/default/groups/" + "0" * 32
    await expect_error(
        profile.GetGroup(pb.GetGroupRequest(name=missing)), grpc.StatusCode.NOT_FOUND, domain=DOMAIN
    )
    await expect_error(
        profile.ListGroupMembers(pb.ListGroupMembersRequest(group=missing)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    await expect_invalid(profile.GetGroup(pb.GetGroupRequest(name="groups/x")), "name")
    await expect_invalid(
        profile.ListGroupMembers(pb.ListGroupMembersRequest(group="workspaces/default")), "group"
    )
    await expect_invalid(profile.ListGroups(pb.ListGroupsRequest(parent="")), "parent")
    await expect_invalid(
        profile.ListGroups(pb.ListGroupsRequest(parent=PARENT, page_token="junk")), "page_token"
    )
    answer = await ingest(profile, event_factory("g-0", type=pb.EVENT_TYPE_GROUP, user_id="ann"))
    expect_rejected(answer, 0, "events[0].group_id")
    assert (await profile.ListGroups(pb.ListGroupsRequest(parent=PARENT))).groups == []


async def test_a_merge_moves_group_memberships(profile: Stub, event_factory: Any) -> None:
    await ingest(
        profile,
        group_event(event_factory, "g-1", "ann", "acme"),
        event_factory("a-1", type=pb.EVENT_TYPE_PAGE, anonymous_id="anon-1", event="Home"),
    )
    visitor_joins = event_factory(
        "g-2", type=pb.EVENT_TYPE_GROUP, anonymous_id="anon-1", group_id="acme"
    )
    visitor_joins_other = event_factory(
        "g-3", type=pb.EVENT_TYPE_GROUP, anonymous_id="anon-1", group_id="globex"
    )
    await ingest(profile, visitor_joins, visitor_joins_other)
    [acme] = [
        g
        for g in (await profile.ListGroups(pb.ListGroupsRequest(parent=PARENT))).groups
        if g.group_id == "acme"
    ]
    assert acme.member_count == 2
    alias = event_factory("al-1", type=pb.EVENT_TYPE_ALIAS, user_id="ann", previous_id="anon-1")
    [result] = (await ingest(profile, alias)).results
    merged = await profile.GetProfile(pb.GetProfileRequest(name=f"{result.customer}/profile"))
    assert merged.event_count == 5 and len(merged.groups) == 2
    acme = await profile.GetGroup(pb.GetGroupRequest(name=acme.name))
    assert acme.member_count == 1  # both were members: one customer now
    members = await profile.ListGroupMembers(pb.ListGroupMembersRequest(group=acme.name))
    assert [m.customer for m in members.members] == [result.customer]


async def test_alias_needs_a_previous_and_a_current_id(profile: Stub, event_factory: Any) -> None:
    answer = await ingest(
        profile,
        event_factory("al-1", type=pb.EVENT_TYPE_ALIAS, user_id="ann"),
        event_factory("al-2", type=pb.EVENT_TYPE_ALIAS, anonymous_id="", previous_id="a-1"),
    )
    expect_rejected(answer, 0, "events[0].previous_id")
    assert answer.results[1].status == pb.INGEST_STATUS_REJECTED


async def test_page_and_screen_events_are_stored_without_traits(
    profile: Stub, event_factory: Any
) -> None:
    answer = await ingest(
        profile,
        event_factory("p-1", type=pb.EVENT_TYPE_PAGE, event="Pricing", properties={"path": "/p"}),
        event_factory(
            "s-1", type=pb.EVENT_TYPE_SCREEN, event="Home", user_id="u-1", traits={"ignored": 1}
        ),
    )
    assert {r.status for r in answer.results} == {pb.INGEST_STATUS_ACCEPTED}
    got = await profile.GetProfile(
        pb.GetProfileRequest(name=answer.results[0].customer + "/profile")
    )
    assert got.event_count == 2 and not got.traits
