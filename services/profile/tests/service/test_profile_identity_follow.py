"""Profile follows identity's WatchChanges: a merge, an unmerge and an erasure made in
identity by another client show in GetProfile (real identity server, in process); the
cursor is stored, so a change made while profile was down is applied after a restart;
a change profile cannot read is skipped and counted, never stopping the follower, and
one the database could not take waits for it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.grpctesting import eventually, serve_fakes, serve_in_process
from rapport.identity.bootstrap import build as build_identity
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.identity.v1 import identity_service_pb2_grpc
from rapport.profile.bootstrap import build as build_profile
from rapport.profile.service_layer import identity_follow
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc
from rapport.type.v1 import identifier_pb2
from sqlalchemy.exc import OperationalError

from ..conftest import FakeIdentity, make_event

PARENT = "workspaces/default"
Stub = Any


def at(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(1_700_000_000 + seconds)
    return stamp


@asynccontextmanager
async def identity_server(tmp_path: Path) -> AsyncIterator[tuple[Any, str]]:
    settings = IdentitySettings(data_dir=tmp_path / "identity", workspaces=["default"])
    async with serve_in_process(build_identity, settings) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield identity_service_pb2_grpc.IdentityServiceStub(channel), running.address


@asynccontextmanager
async def profile_server(
    tmp_path: Path, identity_address: str, **overrides: Any
) -> AsyncIterator[Stub]:
    settings = ProfileSettings(
        data_dir=tmp_path / "profile",
        identity_address=identity_address,
        workspaces=["default"],
        **overrides,
    )
    async with serve_in_process(build_profile, settings) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield profile_service_pb2_grpc.ProfileServiceStub(channel)


async def profile_of(stub: Stub, customer: str) -> pb.Profile | None:
    try:
        return await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
        return None


async def segments_of(stub: Stub, customer: str) -> list[str]:
    exported = await stub.ExportProfile(pb.ExportProfileRequest(name=f"{customer}/profile"))
    return json.loads(exported.data_json)["segments"]


async def shows(stub: Stub, customer: str, check: Any) -> float:
    """Wait until GetProfile satisfies ``check``; the seconds it took."""
    start = time.monotonic()

    async def ok() -> bool:
        return bool(check(await profile_of(stub, customer)))

    await eventually(ok, timeout=10)
    return time.monotonic() - start


async def test_merge_unmerge_and_erase_made_in_identity_show_in_profile(
    tmp_path: Path, **profile_settings: Any
) -> None:
    async with identity_server(tmp_path) as (identity, address):
        async with profile_server(tmp_path, address, **profile_settings) as stub:
            await stub.CreateSegment(
                pb.CreateSegmentRequest(
                    parent=PARENT,
                    segment_id="pros",
                    segment=pb.Segment(rule='traits.plan == "pro"'),
                )
            )
            ingested = await stub.IngestEvents(
                pb.IngestEventsRequest(
                    parent=PARENT,
                    events=[
                        make_event(
                            "a1",
                            type=pb.EVENT_TYPE_IDENTIFY,
                            user_id="ann",
                            traits={"plan": "free", "age": 40},
                            original_time=at(10),
                        ),
                        make_event("a2", user_id="ann", event="Viewed", original_time=at(11)),
                        make_event(
                            "b1",
                            type=pb.EVENT_TYPE_IDENTIFY,
                            anonymous_id="anon-1",
                            traits={"plan": "pro", "city": "Oslo"},
                            original_time=at(20),
                        ),
                        make_event(
                            "b2",
                            type=pb.EVENT_TYPE_GROUP,
                            anonymous_id="anon-1",
                            group_id="acme",
                            original_time=at(21),
                        ),
                    ],
                )
            )
            ann, anon = ingested.results[0].customer, ingested.results[2].customer
            assert ann != anon
            ann_before = await profile_of(stub, ann)
            anon_before = await profile_of(stub, anon)

            # Another client tells identity they are the same person.
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

            took = await shows(stub, gone, lambda p: p is not None and p.event_count == 4)
            view = await profile_of(stub, survivor)
            assert view is not None and view.customer == survivor and view.event_count == 4
            # Newest value by event time wins: anon's plan (t=20) over ann's (t=10).
            assert view.traits["plan"].value.string_value == "pro"
            assert view.traits["plan"].source_message_id == "b1"
            assert view.traits["city"].value.string_value == "Oslo"
            assert view.traits["age"].value.number_value == 40
            assert list(view.groups) == list(anon_before.groups)
            print(f"merge visible in GetProfile after {took:.3f}s")
            assert await segments_of(stub, survivor) == [f"{PARENT}/segments/pros"]

            # The merge is undone in identity: each takes back what it brought.
            await identity.UnmergeCustomer(ipb.UnmergeCustomerRequest(name=survivor))
            await shows(stub, gone, lambda p: p is not None and p.customer == gone)
            for customer, before in ((ann, ann_before), (anon, anon_before)):
                after = await profile_of(stub, customer)
                assert after is not None and after.customer == customer
                assert after.event_count == before.event_count
                assert dict(after.traits) == dict(before.traits)
                assert list(after.groups) == list(before.groups)
            events = await stub.ListEvents(pb.ListEventsRequest(parent=anon))
            assert sorted(e.message_id for e in events.events) == ["b1", "b2"]
            # Segments re-evaluated: only anon (plan "pro") is a member again.
            assert await segments_of(stub, ann) == []
            assert await segments_of(stub, anon) == [f"{PARENT}/segments/pros"]
            group = await stub.GetGroup(pb.GetGroupRequest(name=anon_before.groups[0]))
            assert group.member_count == 1

            # Identity erases anon: the profile and its events go.
            await identity.EraseCustomer(ipb.EraseCustomerRequest(name=anon))
            await shows(stub, anon, lambda p: p is None)
            events = await stub.ListEvents(pb.ListEventsRequest(parent=anon))
            assert list(events.events) == []
            assert (await profile_of(stub, ann)).event_count == 2


async def test_changes_made_while_profile_is_down_apply_after_restart(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as (identity, address):
        async with profile_server(tmp_path, address) as stub:
            ingested = await stub.IngestEvents(
                pb.IngestEventsRequest(
                    parent=PARENT,
                    events=[
                        make_event("c1", user_id="cy", original_time=at(1)),
                        make_event("d1", anonymous_id="dee", original_time=at(2)),
                    ],
                )
            )
            cy, dee = (r.customer for r in ingested.results)
        # Profile is down; identity merges them.
        merged = await identity.Resolve(
            ipb.ResolveRequest(
                parent=PARENT,
                identifiers=[
                    identifier_pb2.Identifier(type="user_id", value="cy"),
                    identifier_pb2.Identifier(type="anonymous_id", value="dee"),
                ],
            )
        )
        survivor = merged.customer.name
        async with profile_server(tmp_path, address) as stub:
            await shows(stub, cy, lambda p: p is not None and p.event_count == 2)
            await shows(stub, dee, lambda p: p is not None and p.customer == survivor)


class ScriptedIdentity(FakeIdentity):
    """The fake identity with a scripted WatchChanges: it records the start cursors."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[ipb.Change] = []
        self.start_cursors: list[str] = []

    async def WatchChanges(self, request: ipb.WatchChangesRequest, context: Any):  # noqa: N802
        self.start_cursors.append(request.start_cursor)
        after = int(request.start_cursor or 0)
        for change in self.changes:
            if int(change.cursor) > after:
                yield ipb.WatchChangesResponse(change=change, skipped_change_count=1)
        await asyncio.Event().wait()  # open until the client goes


async def test_unreadable_changes_are_skipped_and_the_cursor_kept(
    tmp_path: Path, event_factory: Any
) -> None:
    fake = ScriptedIdentity()
    async with serve_fakes(
        lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(fake, server)
    ) as address:

        @asynccontextmanager
        async def profile() -> AsyncIterator[Stub]:
            settings = ProfileSettings(data_dir=tmp_path, identity_address=address)
            async with serve_in_process(build_profile, settings) as running:
                async with grpc.aio.insecure_channel(running.address) as channel:
                    yield profile_service_pb2_grpc.ProfileServiceStub(channel)

        async with profile() as stub:
            ingested = await stub.IngestEvents(
                pb.IngestEventsRequest(
                    parent=PARENT,
                    events=[event_factory("e1", user_id="x"), event_factory("e2", user_id="y")],
                )
            )
            x, y = (r.customer for r in ingested.results)
        fake.changes = [
            ipb.Change(cursor="1", kind=99, customer=x),  # a kind this version does not know
            ipb.Change(
                cursor="2",
                kind=ipb.CHANGE_KIND_MERGED,
                customer="workspaces/other/customers/zzz",  # not this workspace
                other_customers=[y],
            ),
            ipb.Change(cursor="3", kind=ipb.CHANGE_KIND_MERGED, customer=x, other_customers=[y]),
            ipb.Change(cursor="4", kind=ipb.CHANGE_KIND_CREATED, customer=x),
        ]
        async with profile() as stub:
            await shows(stub, y, lambda p: p is not None and p.customer == x and p.event_count == 2)
        # Restarted: it asks for what follows the last change it applied.
        async with profile() as stub:
            await eventually(lambda: len(fake.start_cursors) >= 3, timeout=10)
            assert fake.start_cursors[0] == ""
            assert fake.start_cursors[-1] in ("3", "4")
            assert (await profile_of(stub, x)).event_count == 2


async def test_an_unmerge_gives_back_events_by_their_identifiers(tmp_path: Path) -> None:
    async with identity_server(tmp_path) as (identity, address):
        async with profile_server(tmp_path, address) as stub:
            first = await stub.IngestEvents(
                pb.IngestEventsRequest(
                    parent=PARENT,
                    events=[
                        make_event("k1", user_id="kai", original_time=at(1)),
                        make_event("v1", anonymous_id="anon-k", original_time=at(2)),
                        make_event(
                            "v2",
                            type=pb.EVENT_TYPE_IDENTIFY,
                            anonymous_id="anon-k",
                            traits={"city": "Lima"},
                            original_time=at(3),
                        ),
                    ],
                )
            )
            kai, anon = first.results[0].customer, first.results[1].customer
            # Profile learns this merge from identity's answer to its own ingest.
            both = await stub.IngestEvents(
                pb.IngestEventsRequest(
                    parent=PARENT,
                    events=[
                        make_event("kv", user_id="kai", anonymous_id="anon-k", original_time=at(4))
                    ],
                )
            )
            survivor = both.results[0].customer
            gone = anon if survivor == kai else kai
            assert (await profile_of(stub, gone)).event_count == 4

            await identity.UnmergeCustomer(ipb.UnmergeCustomerRequest(name=survivor))
            await shows(stub, gone, lambda p: p is not None and p.customer == gone)

            async def ids(customer: str) -> list[str]:
                page = await stub.ListEvents(pb.ListEventsRequest(parent=customer))
                return sorted(e.message_id for e in page.events)

            # Each takes back the events of its own identifiers; the event that carried
            # both (the one that merged them) stays with the survivor.
            assert await ids(kai) == (["k1", "kv"] if survivor == kai else ["k1"])
            assert await ids(anon) == (["kv", "v1", "v2"] if survivor == anon else ["v1", "v2"])
            assert (await profile_of(stub, anon)).traits["city"].value.string_value == "Lima"
            assert "city" not in (await profile_of(stub, kai)).traits


async def test_identity_rule_changes_reach_the_identity_cache_at_once(tmp_path: Path) -> None:
    """Identity's answers kept by profile are dropped when the workspace's identity rules
    change (streamed as CHANGE_KIND_RULES_UPDATED), not only when they expire (60 s)."""
    async with identity_server(tmp_path) as (identity, address):
        async with profile_server(tmp_path, address) as stub:

            async def ingest(message_id: str) -> pb.EventResult:
                answer = await stub.IngestEvents(
                    pb.IngestEventsRequest(
                        parent=PARENT, events=[make_event(message_id, user_id="robot-1")]
                    )
                )
                return answer.results[0]

            first = await ingest("m1")
            assert first.status == pb.INGEST_STATUS_ACCEPTED
            # Asked again and again: identity's answer is kept from now on.
            for n in range(2, 5):
                assert (await ingest(f"m{n}")).customer == first.customer

            rules_name = f"{PARENT}/identityRules"
            rules = await identity.GetIdentityRules(ipb.GetIdentityRulesRequest(name=rules_name))
            [user_id_rule] = [r for r in rules.identifier_types if r.type == "user_id"]
            user_id_rule.blocked_patterns.append("robot-.*")
            await identity.UpdateIdentityRules(ipb.UpdateIdentityRulesRequest(identity_rules=rules))

            answers = iter(range(5, 1000))
            results: list[pb.EventResult] = []

            async def refused_now() -> bool:
                results.append(await ingest(f"m{next(answers)}"))
                return results[-1].customer != first.customer

            # Well inside the cache's 60 s expiry: the change stream emptied it.
            await eventually(refused_now, timeout=5)
            # A batch whose only identifier identity now blocks: that event alone is
            # rejected, naming the field and identity's reason.
            refused = results[-1]
            assert refused.status == pb.INGEST_STATUS_REJECTED
            assert refused.customer == ""
            assert refused.rejection.field == "events[0].user_id"
            assert refused.rejection.reason == "IDENTIFIER_REFUSED"
            assert "BLOCKED_VALUE" in refused.rejection.description


async def test_an_erasure_the_database_cannot_take_for_a_while_is_applied_not_skipped(
    tmp_path: Path, event_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ScriptedIdentity()
    original = identity_follow._erase
    failures = 0

    async def database_away(*args: Any) -> Any:
        nonlocal failures
        if failures < 4:  # more than the attempts one change gets
            failures += 1
            raise OperationalError("DELETE ...", None, sqlite3.OperationalError("disk I/O error"))
        return await original(*args)

    async with serve_fakes(
        lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(fake, server)
    ) as address:

        @asynccontextmanager
        async def profile() -> AsyncIterator[Stub]:
            settings = ProfileSettings(data_dir=tmp_path, identity_address=address)
            async with serve_in_process(build_profile, settings) as running:
                async with grpc.aio.insecure_channel(running.address) as channel:
                    yield profile_service_pb2_grpc.ProfileServiceStub(channel)

        async with profile() as stub:
            ingested = await stub.IngestEvents(
                pb.IngestEventsRequest(parent=PARENT, events=[event_factory("e1", user_id="x")])
            )
            [x] = (r.customer for r in ingested.results)
        fake.changes = [ipb.Change(cursor="1", kind=ipb.CHANGE_KIND_ERASED, customer=x)]
        monkeypatch.setattr(identity_follow, "_erase", database_away)
        async with profile() as stub:
            # On the old code the erasure was skipped for good after three attempts:
            # the erased customer's profile stayed.
            await shows(stub, x, lambda p: p is None)
            assert failures == 4
