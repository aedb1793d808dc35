"""The profile service through its real gRPC server, with a fake identity server.

Over 400 lines: every RPC's tests share the helpers at the top (ingest, expect_*, take).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.grpctesting import expect_error
from rapport.profile.bootstrap import method_scopes
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._profile_support import DOMAIN, expect_invalid, expect_rejected, watch

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"
Stub = Any


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


async def ingest(stub: Stub, *events: pb.Event) -> pb.IngestEventsResponse:
    return await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))


async def stored_count(stub: Stub) -> int:
    page = await stub.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    return len(page.events)


async def test_core_scenario(profile: Stub, scenario: Callable[..., Any]) -> None:
    await scenario(profile)


async def test_events_keep_what_the_sender_sent(profile: Stub, event_factory: Any) -> None:
    sent = event_factory(
        "m-1",
        user_id="ann",
        properties={"sku": "A-1", "price": 9.5},
        context={"locale": "nb-NO"},
        name="workspaces/default/customers/forged/events/x",  # output only: ignored
    )
    result = await ingest(profile, sent)
    [stored] = (await profile.ListEvents(pb.ListEventsRequest(parent=ALL))).events
    assert stored.customer == result.results[0].customer
    assert stored.name.startswith(stored.customer + "/events/")
    assert stored.event == "Viewed Item" and stored.type == pb.EVENT_TYPE_TRACK
    assert dict(stored.properties) == {"sku": "A-1", "price": 9.5}
    assert stored.context["locale"] == "nb-NO"
    assert stored.receive_time.seconds > 0 and stored.event_time == stored.receive_time


async def test_skew_is_corrected(profile: Stub, event_factory: Any) -> None:
    # The sender's clock runs one day fast; the event happened 30 s before sending.
    sender_now = datetime.now(UTC) + timedelta(days=1)
    await ingest(
        profile,
        event_factory(
            "m-1",
            original_time=stamp(sender_now - timedelta(seconds=30)),
            sent_time=stamp(sender_now),
        ),
    )
    [stored] = (await profile.ListEvents(pb.ListEventsRequest(parent=ALL))).events
    skew = stored.receive_time.ToDatetime() - stored.event_time.ToDatetime()
    assert skew == timedelta(seconds=30)


async def test_replaying_a_batch_stores_each_event_once(profile: Stub, event_factory: Any) -> None:
    batch = [event_factory(f"m-{i % 4}", user_id=f"user-{i % 4}") for i in range(6)]
    first = await ingest(profile, *batch)
    assert [r.status for r in first.results] == [pb.INGEST_STATUS_ACCEPTED] * 4 + [
        pb.INGEST_STATUS_DUPLICATE
    ] * 2
    assert first.results[4].customer == first.results[0].customer
    for _ in range(3):
        again = await ingest(profile, *batch)
        assert {r.status for r in again.results} == {pb.INGEST_STATUS_DUPLICATE}
        assert [r.customer for r in again.results] == [r.customer for r in first.results]
    assert await stored_count(profile) == 4


async def test_concurrent_replays_store_each_event_once(profile: Stub, event_factory: Any) -> None:
    batch = [event_factory(f"m-{i}", user_id="ann") for i in range(5)]
    answers = await asyncio.gather(*(ingest(profile, *batch) for _ in range(4)))
    accepted = [
        r.message_id for a in answers for r in a.results if r.status == pb.INGEST_STATUS_ACCEPTED
    ]
    assert sorted(accepted) == [f"m-{i}" for i in range(5)]
    assert await stored_count(profile) == 5


async def test_traits_last_writer_wins_by_event_time(profile: Stub, event_factory: Any) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)

    def identify(message_id: str, minute: int, **traits: Any) -> pb.Event:
        return event_factory(
            message_id,
            type=pb.EVENT_TYPE_IDENTIFY,
            user_id="ann",
            traits=traits,
            original_time=stamp(t0 + timedelta(minutes=minute)),
        )

    result = await ingest(profile, identify("new", 10, plan="pro"))
    await ingest(profile, identify("old", 1, plan="free", city="Oslo"))
    await ingest(profile, identify("tie", 10, plan="team"))
    profile_name = result.results[0].customer + "/profile"
    got = await profile.GetProfile(pb.GetProfileRequest(name=profile_name))
    assert got.traits["plan"].value.string_value == "team"  # tie: later ingested wins
    assert got.traits["plan"].source_message_id == "tie"
    assert got.traits["plan"].update_time == stamp(t0 + timedelta(minutes=10))
    assert got.traits["city"].value.string_value == "Oslo"
    assert got.first_seen_time == stamp(t0 + timedelta(minutes=1))
    assert got.last_seen_time == stamp(t0 + timedelta(minutes=10))
    assert got.event_count == 3


async def test_identity_receives_every_identifier_in_one_call(
    profile: Stub, event_factory: Any, identity: Any
) -> None:
    fake, _ = identity
    await ingest(
        profile,
        event_factory(
            "m-1",
            user_id="ann",
            traits={"email": "ANN@example.com"},
            context={"device": {"id": "dev-1"}},
        ),
        event_factory("m-2", identifiers=[identifier_pb2.Identifier(type="crm_id", value="c-7")]),
    )
    [request] = fake.requests
    assert request.parent == PARENT
    assert [r.source for r in request.requests] == ["profile", "profile"]
    first = {(i.type, i.value) for i in request.requests[0].identifiers}
    assert first == {("user_id", "ann"), ("email", "ANN@example.com"), ("device_id", "dev-1")}
    assert [(i.type, i.value) for i in request.requests[1].identifiers] == [("crm_id", "c-7")]
    # Same email, other case: identity normalises it, so it is the same customer.
    again = await ingest(profile, event_factory("m-3", traits={"email": "ann@EXAMPLE.com"}))
    assert len(fake.requests) == 2
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=again.results[0].customer))
    assert sorted(e.message_id for e in listed.events) == ["m-1", "m-3"]


async def test_a_merge_moves_events_and_traits_to_the_survivor(
    profile: Stub, event_factory: Any
) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    known = await ingest(
        profile,
        event_factory(
            "k-1",
            type=pb.EVENT_TYPE_IDENTIFY,
            user_id="ann",
            traits={"plan": "pro"},
            original_time=stamp(t0 + timedelta(minutes=5)),
        ),
    )
    anonymous = await ingest(
        profile,
        event_factory(
            "a-1",
            type=pb.EVENT_TYPE_IDENTIFY,
            anonymous_id="anon-1",
            traits={"plan": "free", "city": "Oslo"},
            original_time=stamp(t0 + timedelta(minutes=1)),
        ),
    )
    survivor, merged = known.results[0].customer, anonymous.results[0].customer
    assert survivor != merged
    linking = await ingest(profile, event_factory("l-1", user_id="ann", anonymous_id="anon-1"))
    assert linking.results[0].customer == survivor

    for name in (survivor, merged):
        got = await profile.GetProfile(pb.GetProfileRequest(name=f"{name}/profile"))
        assert got.name == f"{survivor}/profile" and got.customer == survivor
        assert got.event_count == 3
        assert got.traits["plan"].value.string_value == "pro"  # newer than the merged one
        assert got.traits["city"].value.string_value == "Oslo"
    events = await profile.ListEvents(pb.ListEventsRequest(parent=merged))
    assert sorted(e.message_id for e in events.events) == ["a-1", "k-1", "l-1"]
    assert {e.customer for e in events.events} == {survivor}
    # Replays of events stored before the merge report the survivor.
    replay = await ingest(profile, event_factory("a-1", anonymous_id="anon-1"))
    assert replay.results[0].customer == survivor


async def test_get_profile_errors(profile: Stub) -> None:
    missing = "workspaces/default/customers/abc/profile"
    info, _ = await expect_error(
        profile.GetProfile(pb.GetProfileRequest(name=missing)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    assert info.metadata["resource"] == missing
    await expect_invalid(profile.GetProfile(pb.GetProfileRequest(name="")), "name")
    await expect_invalid(
        profile.GetProfile(pb.GetProfileRequest(name="workspaces/default/customers/abc")), "name"
    )
    await expect_error(
        profile.GetProfile(pb.GetProfileRequest(name="workspaces/other/customers/abc/profile")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )


# -- GetEvent -----------------------------------------------------------------------


async def test_get_event_returns_what_was_stored(profile: Stub, event_factory: Any) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    sent = event_factory(
        "m-1",
        user_id="ann",
        anonymous_id="anon-1",
        identifiers=[identifier_pb2.Identifier(type="crm_id", value="c-7")],
        properties={"sku": "A-1", "tags": ["x", "y"], "n": None},
        context={"device": {"id": "dev-1"}},
        original_time=stamp(t0),
        sent_time=stamp(t0 + timedelta(seconds=30)),
        group_id="g-1",
        name="workspaces/default/customers/forged/events/x",  # output only: ignored
    )
    customer = (await ingest(profile, sent, event_factory("m-2"))).results[0].customer
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=customer))
    [stored] = [e for e in listed.events if e.message_id == "m-1"]

    got = await profile.GetEvent(pb.GetEventRequest(name=stored.name))
    assert got == stored
    assert got.name.startswith(f"{customer}/events/") and got.customer == customer
    assert got.type == pb.EVENT_TYPE_TRACK and got.event == "Viewed Item"
    assert (got.user_id, got.anonymous_id, got.group_id) == ("ann", "anon-1", "g-1")
    assert [(i.type, i.value) for i in got.identifiers] == [("crm_id", "c-7")]
    assert dict(got.properties)["sku"] == "A-1"
    assert list(got.properties["tags"]) == ["x", "y"] and got.properties["n"] is None
    assert got.context["device"]["id"] == "dev-1"
    assert not got.HasField("traits")
    assert got.original_time == stamp(t0)
    assert got.sent_time == stamp(t0 + timedelta(seconds=30))
    assert got.receive_time.ToDatetime() - got.event_time.ToDatetime() == timedelta(seconds=30)


async def test_get_event_follows_merges(profile: Stub, event_factory: Any) -> None:
    known = (await ingest(profile, event_factory("k-1", user_id="ann"))).results[0].customer
    visitor = (
        (await ingest(profile, event_factory("a-1", anonymous_id="anon-1"))).results[0].customer
    )
    [before] = (await profile.ListEvents(pb.ListEventsRequest(parent=visitor))).events
    assert before.customer == visitor
    event_id = before.name.rsplit("/", 1)[1]

    await ingest(profile, event_factory("l-1", user_id="ann", anonymous_id="anon-1"))
    for customer in (visitor, known):
        got = await profile.GetEvent(pb.GetEventRequest(name=f"{customer}/events/{event_id}"))
        assert got.name == f"{known}/events/{event_id}" and got.customer == known
        assert got.message_id == "a-1"


async def test_get_event_errors(profile: Stub, event_factory: Any) -> None:
    ann = (await ingest(profile, event_factory("m-1", user_id="ann"))).results[0].customer
    bob = (await ingest(profile, event_factory("m-2", user_id="bob"))).results[0].customer
    [bobs] = (await profile.ListEvents(pb.ListEventsRequest(parent=bob))).events
    bobs_id = bobs.name.rsplit("/", 1)[1]

    for missing in (
        f"{ann}/events/{'0' * 32}",  # no such event
        f"{ann}/events/{bobs_id}",  # another customer's event
        f"workspaces/default/customers/nobody/events/{bobs_id}",  # no such customer
    ):
        info, _ = await expect_error(
            profile.GetEvent(pb.GetEventRequest(name=missing)),
            grpc.StatusCode.NOT_FOUND,
            domain=DOMAIN,
        )
        assert info.metadata["resource"] == missing
    await expect_error(
        profile.GetEvent(pb.GetEventRequest(name=f"workspaces/other/customers/x/events/{bobs_id}")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )
    for malformed in (
        "",
        f"{ann}/profile",
        ann,
        f"{ann}/events/",
        f"{ann}/events/{bobs_id.upper()}",
        f"workspaces/default/customers/-/events/{bobs_id}",
        f"{bobs.name}/extra",
    ):
        await expect_invalid(profile.GetEvent(pb.GetEventRequest(name=malformed)), "name")


async def test_list_events_pages_newest_first(profile: Stub, event_factory: Any) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = [
        event_factory(f"m-{i:02}", user_id="ann", original_time=stamp(t0 + timedelta(hours=i)))
        for i in (3, 1, 4, 0, 2)
    ]
    events += [event_factory("same-time", user_id="ann", original_time=stamp(t0))]
    customer = (await ingest(profile, *events)).results[0].customer
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await profile.ListEvents(
            pb.ListEventsRequest(parent=customer, page_size=2, page_token=token)
        )
        pages += 1
        seen += [e.message_id for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    # Newest first; equal times: the later stored first.
    assert seen == ["m-04", "m-03", "m-02", "m-01", "same-time", "m-00"]
    everyone = await profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=0))
    assert len(everyone.events) == 6 and not everyone.next_page_token


async def test_list_events_errors(profile: Stub, event_factory: Any) -> None:
    customer = (await ingest(profile, event_factory("m-1"), event_factory("m-2"))).results[0]
    page = await profile.ListEvents(pb.ListEventsRequest(parent=customer.customer, page_size=1))
    await expect_invalid(profile.ListEvents(pb.ListEventsRequest(parent="")), "parent")
    await expect_invalid(
        profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=-1)), "page_size"
    )
    await expect_invalid(
        profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_token=page.next_page_token)),
        "page_token",
    )
    await expect_invalid(
        profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_token="garbage")), "page_token"
    )
    await expect_error(
        profile.ListEvents(pb.ListEventsRequest(parent="workspaces/other/customers/-")),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )


async def test_an_empty_batch_is_refused_whole(profile: Stub, identity: Any) -> None:
    await expect_invalid(profile.IngestEvents(pb.IngestEventsRequest(parent=PARENT)), "events")
    assert identity[0].requests == [] and await stored_count(profile) == 0


# Was test_invalid_batches_are_refused_whole: one invalid event no longer refuses the
# batch. It is REJECTED naming the same field, changes nothing; the others are stored.
@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([{"message_id": "ok"}, {"message_id": "bad", "type": 0}], "events[1].type"),
        ([{"message_id": ""}], "events[0].message_id"),
        ([{"message_id": "x" * 201}], "events[0].message_id"),
        ([{"message_id": "m", "event": ""}], "events[0].event"),
        ([{"message_id": "m"}, {"message_id": "n", "user_id": ""}], "events[1]"),
        (
            [
                {
                    "message_id": "m",
                    "identifiers": [identifier_pb2.Identifier(type="email", value="")],
                }
            ],
            "events[0].identifiers[0].value",
        ),
    ],
)
async def test_an_invalid_event_is_rejected_alone(
    profile: Stub, identity: Any, event_factory: Any, events: list[dict[str, Any]], field: str
) -> None:
    built = []
    for fields in events:
        fields = dict(fields)
        message_id = fields.pop("message_id")
        if fields.get("user_id") == "":
            fields.pop("user_id")
            fields["anonymous_id"] = ""
        built.append(event_factory(message_id, **fields))
    bad = int(field.split("[")[1].split("]")[0])
    answer = await profile.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=built))
    expect_rejected(answer, bad, field)
    good = [e.message_id for i, e in enumerate(built) if i != bad]
    assert [r.status for i, r in enumerate(answer.results) if i != bad] == [
        pb.INGEST_STATUS_ACCEPTED
    ] * len(good)
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    assert sorted(e.message_id for e in listed.events) == sorted(good)
    # The rejected event was never sent to identity.
    assert len([o for r in identity[0].requests for o in r.requests]) == len(good)


async def test_ingest_parent_errors(profile: Stub, event_factory: Any) -> None:
    events = [event_factory("m-1")]
    await expect_invalid(
        profile.IngestEvents(pb.IngestEventsRequest(parent="", events=events)), "parent"
    )
    await expect_error(
        profile.IngestEvents(pb.IngestEventsRequest(parent="workspaces/nope", events=events)),
        grpc.StatusCode.NOT_FOUND,
        domain=DOMAIN,
    )


async def test_identity_refusal_names_the_event_field(profile: Stub, event_factory: Any) -> None:
    batch = [
        event_factory("m-0"),
        event_factory("m-1", user_id="bob"),
        event_factory(
            "m-2", user_id="carl", traits={"email": "c@example.com", "phone": "not a phone"}
        ),
    ]
    # Identity refuses the whole call; the event it named is rejected alone and the
    # call made again without it.
    answer = await ingest(profile, *batch)
    description = expect_rejected(answer, 2, "events[2].traits.phone", "IDENTIFIER_REFUSED")
    assert "phone" in description
    assert [r.status for r in answer.results[:2]] == [pb.INGEST_STATUS_ACCEPTED] * 2
    shoe = event_factory(
        "m-3", identifiers=[identifier_pb2.Identifier(type="shoe_size", value="44")]
    )
    answer = await ingest(profile, shoe)
    expect_rejected(answer, 0, "events[0].identifiers[0].type", "IDENTIFIER_REFUSED")
    assert await stored_count(profile) == 2
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=ALL))
    assert sorted(e.message_id for e in listed.events) == ["m-0", "m-1"]


async def test_duplicates_are_not_sent_to_identity(
    profile: Stub, event_factory: Any, identity: Any
) -> None:
    await ingest(profile, event_factory("m-1", user_id="ann"))
    fake = identity[0]
    await ingest(profile, event_factory("m-1", user_id="ann"), event_factory("m-2", user_id="bob"))
    assert len(fake.requests) == 2
    assert [[(i.type, i.value) for i in r.identifiers] for r in fake.requests[1].requests] == [
        [("user_id", "bob")]
    ]
    # A batch of only duplicates does not call identity at all.
    await ingest(profile, event_factory("m-2", user_id="bob"))
    assert len(fake.requests) == 2


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
async def test_identity_failure_is_unavailable_and_stores_nothing(
    profile: Stub, identity: Any, event_factory: Any, code: grpc.StatusCode
) -> None:
    identity[0].fail_with = code
    info, _ = await expect_error(
        ingest(profile, event_factory("m-1")), grpc.StatusCode.UNAVAILABLE, domain=DOMAIN
    )
    assert info.reason == "IDENTITY_UNAVAILABLE"
    assert await stored_count(profile) == 0
    identity[0].fail_with = None
    retried = await ingest(profile, event_factory("m-1"))
    assert retried.results[0].status == pb.INGEST_STATUS_ACCEPTED


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_identity_down_is_unavailable(profile_server: Any, event_factory: Any) -> None:
    async with profile_server(identity_address=f"127.0.0.1:{_closed_port()}") as (stub, _):
        await expect_error(
            ingest(stub, event_factory("m-1")), grpc.StatusCode.UNAVAILABLE, domain=DOMAIN
        )
        assert await stored_count(stub) == 0


async def test_scopes_guard_the_methods(profile_server: Any, event_factory: Any) -> None:
    tokens = {"reader": ["profile.read"], "writer": ["profile.write", "profile.read"]}
    async with profile_server(auth_tokens=tokens) as (stub, _):
        reader = (("authorization", "Bearer reader"),)
        writer = (("authorization", "Bearer writer"),)
        request = pb.IngestEventsRequest(parent=PARENT, events=[event_factory("m-1")])
        await expect_error(
            stub.IngestEvents(request, metadata=reader),
            grpc.StatusCode.PERMISSION_DENIED,
            domain=DOMAIN,
        )
        await stub.IngestEvents(request, metadata=writer)
        listed = await stub.ListEvents(pb.ListEventsRequest(parent=ALL), metadata=reader)
        assert len(listed.events) == 1
        [event] = listed.events
        got = await stub.GetEvent(pb.GetEventRequest(name=event.name), metadata=reader)
        assert got == event
        profile = await stub.GetProfile(
            pb.GetProfileRequest(name=f"{event.customer}/profile"), metadata=reader
        )
        assert profile.event_count == 1


def test_every_method_of_the_contract_has_a_scope() -> None:
    service = pb.DESCRIPTOR.services_by_name["ProfileService"]
    scopes = method_scopes()
    assert set(scopes) == {f"/{service.full_name}/{m.name}" for m in service.methods}
    exact = {
        "IngestEvents": "profile.write",
        "RemoveTraits": "profile.write",
        "BatchGetProfiles": "profile.read",
        "ExportProfile": "profile.export",
        "EraseProfile": "profile.erase",
        "UpdateDataHygienePolicy": "profile.admin",
    }
    for method, scope in scopes.items():
        name = method.rsplit("/", 1)[1]
        if name in exact:
            assert scope == exact[name], method
        elif name.startswith(("Get", "List", "Watch")):
            assert scope == "profile.read", method
        else:
            assert scope in {"profile.read", "profile.write", "profile.admin"}, method


# -- WatchSignals -------------------------------------------------------------------


async def take(stub: Stub, count: int, **request: Any) -> list[pb.Signal]:
    received = await watch(stub, count, **request)
    assert [r.skipped_signal_count for r in received] == [0] * count  # nothing is skipped
    return [response.signal for response in received]


async def quiet(stub: Stub, seconds: float, **request: Any) -> list[pb.Signal]:
    """Everything the stream delivers within ``seconds`` (expected: nothing more)."""
    call = stub.WatchSignals(pb.WatchSignalsRequest(parent=PARENT, **request))
    received: list[pb.Signal] = []
    try:
        async with asyncio.timeout(seconds):
            async for response in call:
                received.append(response.signal)
    except TimeoutError:
        pass
    finally:
        call.cancel()
    return received


async def test_signals_report_events_and_trait_changes(profile: Stub, event_factory: Any) -> None:
    await ingest(
        profile,
        event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"plan": "free"}),
        event_factory("m-2", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"plan": "free"}),
        event_factory("m-3", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"plan": "pro"}),
    )
    signals = await take(profile, 5)
    kinds = [s.kind for s in signals]
    seen, changed = pb.SIGNAL_KIND_EVENT_SEEN, pb.SIGNAL_KIND_TRAIT_CHANGED
    assert kinds == [seen, changed, seen, seen, changed]  # m-2 changed nothing
    first, second = signals[1].trait_changed, signals[4].trait_changed
    assert first.key == "plan" and not first.HasField("old_value")
    assert first.new_value.string_value == "free" and first.source_message_id == "m-1"
    assert second.old_value.string_value == "free" and second.new_value.string_value == "pro"
    assert signals[0].event_seen.event.message_id == "m-1"
    assert signals[0].event_seen.event.customer == signals[0].customer
    assert [int(s.cursor) for s in signals] == sorted(int(s.cursor) for s in signals)


async def test_watch_resumes_after_a_cursor_without_gaps_or_repeats(
    profile: Stub, event_factory: Any
) -> None:
    await ingest(profile, *[event_factory(f"m-{i}") for i in range(6)])
    everything = await take(profile, 6)
    head = await take(profile, 2)
    rest = await take(profile, 4, start_cursor=head[-1].cursor)
    assert [s.cursor for s in head + rest] == [s.cursor for s in everything]
    assert await quiet(profile, 0.7, start_cursor=everything[-1].cursor) == []


async def test_watch_delivers_a_signal_committed_while_waiting(
    profile: Stub, event_factory: Any
) -> None:
    await ingest(profile, event_factory("before"))
    [old] = await take(profile, 1)
    waiting = asyncio.create_task(take(profile, 1, start_cursor=old.cursor))
    await asyncio.sleep(0.2)  # the stream is now idle, waiting for news
    started = asyncio.get_running_loop().time()
    await ingest(profile, event_factory("after"))
    [new] = await waiting
    assert new.event_seen.event.message_id == "after"
    # Woken by the in-process notification, well before the next poll would.
    assert asyncio.get_running_loop().time() - started < 0.45


async def test_watch_filters_by_kind(profile: Stub, event_factory: Any) -> None:
    await ingest(
        profile,
        event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"a": 1}),
        event_factory("m-2", user_id="ann"),
        event_factory("m-3", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", traits={"b": 2}),
    )
    changes = await quiet(profile, 0.7, kinds=[pb.SIGNAL_KIND_TRAIT_CHANGED])
    assert [s.trait_changed.key for s in changes] == ["a", "b"]
    seen = await quiet(profile, 0.7, kinds=[pb.SIGNAL_KIND_EVENT_SEEN])
    assert [s.event_seen.event.message_id for s in seen] == ["m-1", "m-2", "m-3"]


async def test_watch_refuses_bad_requests(profile: Stub, event_factory: Any) -> None:
    async def first(**request: Any) -> None:
        async for _ in profile.WatchSignals(pb.WatchSignalsRequest(**request)):
            break

    await expect_invalid(first(parent=PARENT, start_cursor="abc"), "start_cursor")
    await expect_invalid(first(parent=PARENT, start_cursor="999"), "start_cursor")
    await expect_invalid(first(parent=PARENT, kinds=[pb.SIGNAL_KIND_UNSPECIFIED]), "kinds[0]")
    await expect_invalid(first(parent=""), "parent")
    await expect_error(first(parent="workspaces/nope"), grpc.StatusCode.NOT_FOUND, domain=DOMAIN)


async def test_watch_ends_when_the_server_stops(profile_server: Any, event_factory: Any) -> None:
    async with profile_server() as (stub, running):
        call = stub.WatchSignals(pb.WatchSignalsRequest(parent=PARENT))
        await asyncio.sleep(0.2)
        started = asyncio.get_running_loop().time()
        # No drain period: it keeps serving (and streaming) on purpose.
        await running.stop(grace=5, drain=0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async with asyncio.timeout(3):
                async for _ in call:
                    pass
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        # Not held for the whole grace period.
        assert asyncio.get_running_loop().time() - started < 2


async def test_malformed_values_are_invalid_not_internal(profile: Stub, event_factory: Any) -> None:
    not_json = event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, traits={"score": float("nan")})
    expect_rejected(await ingest(profile, not_json), 0, "events[0].traits.score")
    far_future = event_factory("m-2", original_time=Timestamp(seconds=10**12))
    expect_rejected(await ingest(profile, far_future), 0, "events[0].original_time")
    unknown_type = event_factory("m-3", type=99)
    expect_rejected(await ingest(profile, event_factory("m-0"), unknown_type), 1, "events[1].type")
    not_a_string = event_factory("m-4", context={"device": {"id": 7}})
    expect_rejected(await ingest(profile, not_a_string), 0, "events[0].context.device.id")
    assert await stored_count(profile) == 1  # m-0 only


async def test_an_out_of_range_skew_correction_is_invalid(
    profile: Stub, event_factory: Any
) -> None:
    # Both times are valid, but shifting the receive time by their gap leaves the calendar.
    earliest = datetime(1, 1, 1, tzinfo=UTC)
    latest = datetime(9999, 12, 31, tzinfo=UTC)
    for original, sent in ((earliest, latest), (latest, earliest)):
        skewed = event_factory("m-1", original_time=stamp(original), sent_time=stamp(sent))
        answer = await ingest(profile, event_factory("m-0"), skewed)
        expect_rejected(answer, 1, "events[1].sent_time")
    assert await stored_count(profile) == 1  # m-0 only
