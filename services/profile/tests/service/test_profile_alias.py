"""Alias as Segment specifies it, against the real identity service (in process):
previousId is "an anonymousId or a previous userId", and the alias merges the customer
it names, whichever it is; when identity's rules refuse the merge (one user_id per
customer by default), the alias is rejected with its reason, not stored on a new
customer."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import grpc
import httpx
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2
from segment.analytics import Client

from .._with_identity import profile_with_identity
from ..conftest import make_event

PARENT = "workspaces/default"
WRITE_KEY = "wk-alias"
Stub = Any


def services(tmp_path: Path) -> AbstractAsyncContextManager[tuple[Stub, Stub, str]]:
    """(profile stub, identity stub, collector URL): both services real, in process."""
    return profile_with_identity(tmp_path, WRITE_KEY)


async def allow_user_ids(identity: Stub, limit: int) -> None:
    """The workspace's rules with ``limit`` user_ids per customer (0: no limit)."""
    name = f"{PARENT}/identityRules"
    rules = await identity.GetIdentityRules(ipb.GetIdentityRulesRequest(name=name))
    [user_id] = [rule for rule in rules.identifier_types if rule.type == "user_id"]
    user_id.limit = limit
    await identity.UpdateIdentityRules(ipb.UpdateIdentityRulesRequest(identity_rules=rules))


async def ingest(stub: Stub, *events: pb.Event) -> list[pb.EventResult]:
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))
    return list(answer.results)


async def owner(identity: Stub, type_: str, value: str) -> str:
    found = await identity.LookupCustomer(
        ipb.LookupCustomerRequest(
            parent=PARENT, identifier=identifier_pb2.Identifier(type=type_, value=value)
        )
    )
    return str(found.name)


async def no_owner(identity: Stub, type_: str, value: str) -> None:
    try:
        found = await owner(identity, type_, value)
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND, err
    else:
        raise AssertionError(f"{type_} {value} belongs to {found}")


def identify(message_id: str, user_id: str) -> pb.Event:
    return make_event(
        message_id, type=pb.EVENT_TYPE_IDENTIFY, user_id=user_id, traits={"plan": "pro"}
    )


def alias(message_id: str, previous_id: str, user_id: str) -> pb.Event:
    return make_event(
        message_id, type=pb.EVENT_TYPE_ALIAS, user_id=user_id, previous_id=previous_id
    )


async def test_an_alias_from_a_previous_user_id_merges_with_that_customer(
    tmp_path: Path,
) -> None:
    async with services(tmp_path) as (profile, identity, _):
        await allow_user_ids(identity, 2)
        [first] = await ingest(profile, identify("id-1", "old-login"))
        [aliased] = await ingest(profile, alias("al-1", "old-login", "new-login"))
        assert aliased.status == pb.INGEST_STATUS_ACCEPTED, aliased
        # The customer that has user_id old-login, not a new one holding
        # anonymous_id old-login.
        assert aliased.customer == first.customer
        assert await owner(identity, "user_id", "new-login") == first.customer
        assert await owner(identity, "user_id", "old-login") == first.customer
        # Both ids of one batch: the identify's user id is the alias's previous id.
        [one, two] = await ingest(
            profile, identify("id-2", "first-login"), alias("al-2", "first-login", "next-login")
        )
        assert (one.status, two.status) == (pb.INGEST_STATUS_ACCEPTED,) * 2
        assert two.customer == one.customer
        # The classic alias, from an anonymous id, still merges the visitor.
        [visitor] = await ingest(profile, make_event("v-1", anonymous_id="anon-5"))
        [classic] = await ingest(profile, alias("al-3", "anon-5", "old-login"))
        assert classic.customer == first.customer
        merged = await profile.GetProfile(pb.GetProfileRequest(name=f"{visitor.customer}/profile"))
        assert merged.customer == first.customer and merged.event_count == 4


async def test_an_alias_identity_refuses_to_merge_is_rejected_with_the_reason(
    tmp_path: Path,
) -> None:
    async with services(tmp_path) as (profile, identity, host):
        # Identity's default rules: one user_id per customer, so two user ids never merge.
        [first] = await ingest(profile, identify("id-1", "old-login"))
        [refused] = await ingest(profile, alias("al-1", "old-login", "new-login"))
        assert refused.status == pb.INGEST_STATUS_REJECTED, refused
        assert refused.rejection.reason == "IDENTIFIER_REFUSED"
        assert refused.rejection.field in ("events[0].previous_id", "events[0].user_id")
        assert "LIMIT_EXCEEDED" in refused.rejection.description
        assert not refused.customer
        listed = await profile.ListEvents(
            pb.ListEventsRequest(parent=f"{PARENT}/customers/-", page_size=50)
        )
        assert [e.message_id for e in listed.events] == ["id-1"]
        assert await owner(identity, "user_id", "old-login") == first.customer
        # Nothing of the alias reached identity either: no customer holds new-login alone.
        await no_owner(identity, "user_id", "new-login")

        # Segment's library, in sync mode: /v1/alias answers 400 naming the field as sent.
        async with httpx.AsyncClient(base_url=host, auth=(WRITE_KEY, "")) as http:
            answer = await http.post(
                "/v1/alias",
                json={"previousId": "old-login", "userId": "other-login", "messageId": "al-2"},
            )
        assert answer.status_code == 400
        message = answer.json()["message"]
        assert message.startswith(("previousId: ", "userId: ")) and "LIMIT_EXCEEDED" in message


async def test_the_segment_library_alias_merges_a_previous_user_id(tmp_path: Path) -> None:
    async with services(tmp_path) as (profile, identity, host):
        await allow_user_ids(identity, 0)
        errors: list[Exception] = []
        client = Client(WRITE_KEY, host=host, max_retries=0, on_error=lambda e, _: errors.append(e))

        def send() -> None:
            client.identify("old-login", {"email": "old@example.org"}, message_id="s-1")
            client.flush()  # its own request: identity knows old-login as a user_id
            client.alias("old-login", "new-login", message_id="s-2")
            client.track("new-login", "Logged In", message_id="s-3")
            client.flush()
            client.join()

        await asyncio.to_thread(send)
        assert errors == []
        customer = await owner(identity, "user_id", "old-login")
        listed = await profile.ListEvents(pb.ListEventsRequest(parent=customer, page_size=50))
        assert {e.message_id for e in listed.events} == {"s-1", "s-2", "s-3"}
        assert {e.customer for e in listed.events} == {customer}


async def test_a_refused_alias_from_a_known_visitor_creates_no_customer(tmp_path: Path) -> None:
    """The visitor anon-1 is ann's; aliasing anon-1 to bob would give ann's customer a
    second user_id (one per customer by default). Linked piecemeal, identity made a
    customer holding bob alone (anon-1 left out) and announced it; all or nothing, the
    alias changes nothing and is rejected."""
    async with services(tmp_path) as (profile, identity, _):
        [ann] = await ingest(
            profile,
            make_event("id-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", anonymous_id="anon-1"),
        )
        [refused] = await ingest(profile, alias("al-1", "anon-1", "bob"))
        assert refused.status == pb.INGEST_STATUS_REJECTED, refused
        assert refused.rejection.reason == "IDENTIFIER_REFUSED"
        assert "LIMIT_EXCEEDED" in refused.rejection.description
        await no_owner(identity, "user_id", "bob")
        assert await owner(identity, "anonymous_id", "anon-1") == ann.customer
        # The same identifiers in an identify still link what they can (bob alone).
        [seen] = await ingest(
            profile,
            make_event("id-2", type=pb.EVENT_TYPE_IDENTIFY, user_id="bob", anonymous_id="anon-1"),
        )
        assert seen.status == pb.INGEST_STATUS_ACCEPTED and seen.customer != ann.customer
