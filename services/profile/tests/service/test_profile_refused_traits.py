"""An identifier identity refused never becomes the customer's trait, against the real
identity service (in process): an identify whose phone belongs to another customer (one
user_id per customer, identity's default rules) keeps that phone off the customer's
traits, its stored event, its segments, and says so in the event's result; the rest of
the event is stored and the customer keeps the phone it had."""

from __future__ import annotations

import json
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._with_identity import profile_with_identity
from ..conftest import make_event

PARENT = "workspaces/default"
WRITE_KEY = "wk-refused"
ANNS_PHONE = "+12025550123"
BOBS_PHONE = "+12025550188"
Stub = Any


def services(tmp_path: Path) -> AbstractAsyncContextManager[tuple[Stub, Stub, str]]:
    """(profile stub, identity stub, collector URL): both services real, in process."""
    return profile_with_identity(tmp_path, WRITE_KEY)


def identify(message_id: str, user_id: str, **traits: Any) -> pb.Event:
    return make_event(message_id, type=pb.EVENT_TYPE_IDENTIFY, user_id=user_id, traits=traits)


async def ingest(stub: Stub, *events: pb.Event) -> list[pb.EventResult]:
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))
    return list(answer.results)


async def traits_of(stub: Stub, customer: str) -> dict[str, Any]:
    found = await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
    return {key: trait.value.string_value for key, trait in found.traits.items()}


async def owner(identity: Stub, type_: str, value: str) -> str:
    found = await identity.LookupCustomer(
        ipb.LookupCustomerRequest(
            parent=PARENT, identifier=identifier_pb2.Identifier(type=type_, value=value)
        )
    )
    return str(found.name)


async def test_a_phone_of_another_customer_is_not_made_the_customers_trait(
    tmp_path: Path,
) -> None:
    async with services(tmp_path) as (profile, identity, _):
        segment = await profile.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT,
                segment_id="anns-phone",
                segment=pb.Segment(
                    display_name="Ann's phone", rule=f'traits.phone == "{ANNS_PHONE}"'
                ),
            )
        )
        [ann, bob] = await ingest(
            profile,
            identify("id-ann", "ann", phone=ANNS_PHONE),
            identify("id-bob", "bob", phone=BOBS_PHONE),
        )
        assert ann.customer != bob.customer
        # Bob's identify carries Ann's phone: identity will not merge two user_ids.
        [result] = await ingest(
            profile, identify("id-bob-2", "bob", phone=f" {ANNS_PHONE} ", plan="pro")
        )
        assert result.status == pb.INGEST_STATUS_ACCEPTED, result
        assert result.customer == bob.customer
        [warning] = result.warnings
        assert warning.field == "events[0].traits.phone"
        assert warning.reason == "IDENTIFIER_REFUSED"
        assert warning.identifier_type == "phone"
        assert warning.identity_reason == "LIMIT_EXCEEDED"
        assert "phone" in warning.description and ANNS_PHONE not in warning.description
        assert await owner(identity, "phone", ANNS_PHONE) == ann.customer

        # The rest of the event is stored; Bob keeps his own phone.
        assert await traits_of(profile, bob.customer) == {"phone": BOBS_PHONE, "plan": "pro"}
        assert (await traits_of(profile, ann.customer))["phone"] == ANNS_PHONE
        # The stored event (listed and exported) leaves the phone out too.
        listed = await profile.ListEvents(pb.ListEventsRequest(parent=bob.customer))
        stored = {e.message_id: dict(e.traits) for e in listed.events}
        assert stored["id-bob-2"] == {"plan": "pro"}
        exported = await profile.ExportProfile(
            pb.ExportProfileRequest(name=f"{bob.customer}/profile")
        )
        assert ANNS_PHONE not in exported.data_json
        events = json.loads(exported.data_json)["events"]
        assert [e["document"].get("traits") for e in events] == [
            {"phone": BOBS_PHONE},
            {"plan": "pro"},
        ]
        # Segments judge the traits the profile holds.
        bobs_profile = await profile.GetProfile(
            pb.GetProfileRequest(name=f"{bob.customer}/profile")
        )
        assert segment.name not in bobs_profile.segments

        # A replay answers DUPLICATE (nothing stored now, no warnings).
        [replay] = await ingest(profile, identify("id-bob-2", "bob", phone=ANNS_PHONE))
        assert replay.status == pb.INGEST_STATUS_DUPLICATE and not replay.warnings
        # An event identity links every identifier of reports nothing.
        [plain] = await ingest(profile, identify("id-bob-3", "bob", phone=BOBS_PHONE))
        assert plain.status == pb.INGEST_STATUS_ACCEPTED and not plain.warnings


async def test_the_collector_answers_200_and_stores_no_refused_phone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with services(tmp_path) as (profile, _, host):
        [ann, bob] = await ingest(
            profile,
            identify("id-ann", "ann", phone=ANNS_PHONE),
            identify("id-bob", "bob", email="bob@example.com"),
        )
        async with httpx.AsyncClient(base_url=host, auth=(WRITE_KEY, "")) as http:
            answer = await http.post(
                "/v1/identify",
                json={
                    "userId": "bob",
                    "messageId": "http-1",
                    # As identity normalises it: +12025550123 (Ann's).
                    "traits": {"phone": "(202) 555-0123", "name": "Bob"},
                },
            )
        assert answer.status_code == 200, answer.text
        assert await traits_of(profile, bob.customer) == {
            "email": "bob@example.com",
            "name": "Bob",
        }
        assert "phone" in await traits_of(profile, ann.customer)
    # Segment's answer has no room for it: the log says which trait, without its value.
    [note] = [r for r in caplog.records if r.getMessage() == "collector traits withheld"]
    assert note.__dict__["withheld"] == [
        {"message_id": "http-1", "trait": "phone", "reason": "LIMIT_EXCEEDED"}
    ]
    assert "555" not in str(note.__dict__)
