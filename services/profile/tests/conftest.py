"""Fixtures of the profile service tests: a fake identity gRPC server, a profile server."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.grpctesting import serve_fakes, serve_in_process
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.identity.v1 import identity_service_pb2_grpc
from rapport.profile.bootstrap import build
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.profile.v1 import profile_service_pb2_grpc

_KNOWN_TYPES = {"user_id", "email", "phone", "anonymous_id", "device_id", "crm_id"}
_PHONE = re.compile(r"\+[0-9]{7,15}")
_DETAILS_KEY = "grpc-status-details-bin"


class FakeIdentity(identity_service_pb2_grpc.IdentityServiceServicer):
    """BatchResolve over a tiny identity graph: emails lower-cased, phones must be E.164,
    unknown types refused; an observation linking customers merges them into the oldest."""

    def __init__(self) -> None:
        self.owner: dict[tuple[str, str, str], str] = {}
        self.merged_into: dict[str, str] = {}
        self.created: dict[str, int] = {}
        self.counter = itertools.count()
        self.fail_with: grpc.StatusCode | None = None
        # Sent as the status details trailer of fail_with, when set.
        self.fail_details: bytes | None = None
        # Rewrites each answer (e.g. into one profile cannot use).
        self.tamper: Callable[[ipb.BatchResolveResponse], None] | None = None
        self.requests: list[ipb.BatchResolveRequest] = []
        self.lookups: list[ipb.LookupCustomerRequest] = []
        # While set to an event not yet set, answers wait for it (a slow identity).
        self.hold: asyncio.Event | None = None

    async def BatchResolve(
        self, request: ipb.BatchResolveRequest, context: grpc.aio.ServicerContext
    ) -> ipb.BatchResolveResponse:
        self.requests.append(request)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_with is not None:
            trailer = () if self.fail_details is None else ((_DETAILS_KEY, self.fail_details),)
            await context.abort(self.fail_with, "identity is having a bad day", trailer)
        for k, item in enumerate(request.requests):
            for j, identifier in enumerate(item.identifiers):
                field = f"requests[{k}].identifiers[{j}]"
                if identifier.type not in _KNOWN_TYPES:
                    await _abort_invalid(context, f"{field}.type", "unknown identifier type")
                if identifier.type == "phone" and not _PHONE.fullmatch(identifier.value):
                    await _abort_invalid(context, f"{field}.value", "not an E.164 phone number")
        workspace = request.parent.split("/")[1]
        response = ipb.BatchResolveResponse(
            responses=[self._resolve(workspace, item) for item in request.requests]
        )
        if self.tamper is not None:
            self.tamper(response)
        return response

    async def LookupCustomer(
        self, request: ipb.LookupCustomerRequest, context: grpc.aio.ServicerContext
    ) -> ipb.Customer:
        self.lookups.append(request)
        if self.fail_with is not None:
            await context.abort(self.fail_with, "identity is having a bad day")
        workspace = request.parent.split("/")[1]
        found = request.identifier
        value = found.value.strip().lower() if found.type == "email" else found.value.strip()
        owner = self.owner.get((workspace, found.type, value))
        if owner is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no customer has this identifier")
        return ipb.Customer(name=f"workspaces/{workspace}/customers/{self.root(owner)}")

    def _resolve(self, workspace: str, item: ipb.ResolveRequest) -> ipb.ResolveResponse:
        keys = [
            (workspace, i.type, i.value.strip().lower() if i.type == "email" else i.value.strip())
            for i in item.identifiers
        ]
        customers: list[str] = []
        for key in keys:
            if (owner := self.owner.get(key)) is not None:
                root = self.root(owner)
                if root not in customers:
                    customers.append(root)
        created = not customers
        if created:
            survivor = uuid.uuid4().hex
            self.created[survivor] = next(self.counter)
        else:
            survivor = min(customers, key=self.created.__getitem__)
        merged = [c for c in customers if c != survivor]
        for customer in merged:
            self.merged_into[customer] = survivor
        for key in keys:
            self.owner[key] = survivor
        name = f"workspaces/{workspace}/customers/{survivor}"
        return ipb.ResolveResponse(
            customer=ipb.Customer(name=name),
            created=created,
            merged_customers=[f"workspaces/{workspace}/customers/{c}" for c in merged],
        )

    def root(self, customer: str) -> str:
        while customer in self.merged_into:
            customer = self.merged_into[customer]
        return customer


async def _abort_invalid(context: grpc.aio.ServicerContext, field: str, description: str) -> None:
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=f"{field}: {description}")
    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    await context.abort_with_status(rpc_status.to_status(status))


@pytest.fixture
async def identity() -> AsyncIterator[tuple[FakeIdentity, str]]:
    fake = FakeIdentity()
    async with serve_fakes(
        lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(fake, server)
    ) as address:
        yield fake, address


ProfileServer = Callable[..., AbstractAsyncContextManager[Any]]


@pytest.fixture
def profile_server(tmp_path: Path, identity: tuple[FakeIdentity, str]) -> ProfileServer:
    """``async with profile_server(**settings) as (stub, running):`` a profile server."""

    @asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[Any]:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "identity_address": identity[1],
            "signal_poll_seconds": 0.5,
            # The fake identity has no WatchChanges (test_profile_identity_follow uses
            # a real identity server).
            "follow_identity": False,
        }
        settings = ProfileSettings(**{**values, **overrides})
        async with serve_in_process(build, settings) as running:
            async with grpc.aio.insecure_channel(running.address) as channel:
                yield profile_service_pb2_grpc.ProfileServiceStub(channel), running

    return serve


@pytest.fixture
async def profile(
    profile_server: ProfileServer,
) -> AsyncIterator[profile_service_pb2_grpc.ProfileServiceStub]:
    async with profile_server() as (stub, _running):
        yield stub


PARENT = "workspaces/default"


def make_event(message_id: str, **fields: Any) -> pb.Event:
    fields.setdefault("type", pb.EVENT_TYPE_TRACK)
    if fields["type"] == pb.EVENT_TYPE_TRACK:
        fields.setdefault("event", "Viewed Item")
    if not any(k in fields for k in ("user_id", "anonymous_id", "identifiers", "traits")):
        fields["user_id"] = "u-1"
    traits = fields.pop("traits", None)
    context = fields.pop("context", None)
    properties = fields.pop("properties", None)
    event = pb.Event(message_id=message_id, **fields)
    if traits is not None:
        event.traits.update(traits)
    if context is not None:
        event.context.update(context)
    if properties is not None:
        event.properties.update(properties)
    return event


async def core_scenario(stub: profile_service_pb2_grpc.ProfileServiceStub) -> None:
    """Ingest, replay, profile, list, merge: the path every backend must support."""
    first = await stub.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[
                make_event(
                    "e1",
                    type=pb.EVENT_TYPE_IDENTIFY,
                    user_id="ann",
                    traits={"email": "Ann@Example.com", "plan": "free"},
                ),
                make_event("e2", user_id="ann", properties={"sku": "A-1"}),
            ],
        )
    )
    assert [r.status for r in first.results] == [pb.INGEST_STATUS_ACCEPTED] * 2
    ann = first.results[0].customer
    assert first.results[1].customer == ann

    replay = await stub.IngestEvents(
        pb.IngestEventsRequest(parent=PARENT, events=[make_event("e2", user_id="ann")])
    )
    assert replay.results[0].status == pb.INGEST_STATUS_DUPLICATE
    assert replay.results[0].customer == ann

    profile = await stub.GetProfile(pb.GetProfileRequest(name=f"{ann}/profile"))
    assert profile.event_count == 2
    assert profile.traits["plan"].value.string_value == "free"
    assert profile.traits["plan"].source_message_id == "e1"

    # An anonymous visitor, then the event that tells identity they are Ann.
    anon = await stub.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[
                make_event(
                    "e3",
                    type=pb.EVENT_TYPE_IDENTIFY,
                    anonymous_id="anon-9",
                    traits={"city": "Oslo"},
                )
            ],
        )
    )
    visitor = anon.results[0].customer
    assert visitor != ann
    await stub.IngestEvents(
        pb.IngestEventsRequest(
            parent=PARENT,
            events=[
                make_event("e4", type=pb.EVENT_TYPE_ALIAS, user_id="ann", previous_id="anon-9")
            ],
        )
    )
    merged_profile = await stub.GetProfile(pb.GetProfileRequest(name=f"{visitor}/profile"))
    assert merged_profile.customer == ann
    assert merged_profile.event_count == 4
    assert merged_profile.traits["city"].value.string_value == "Oslo"
    assert merged_profile.traits["plan"].value.string_value == "free"

    listed = await stub.ListEvents(pb.ListEventsRequest(parent=visitor, page_size=3))
    assert len(listed.events) == 3 and listed.next_page_token
    rest = await stub.ListEvents(
        pb.ListEventsRequest(parent=visitor, page_size=3, page_token=listed.next_page_token)
    )
    ids = [e.message_id for e in [*listed.events, *rest.events]]
    assert sorted(ids) == ["e1", "e2", "e3", "e4"]
    assert all(e.customer == ann for e in [*listed.events, *rest.events])
    assert not rest.next_page_token

    # The visitor's event, named by the merged-away visitor: found under Ann.
    [e3] = [e for e in [*listed.events, *rest.events] if e.message_id == "e3"]
    assert e3.name.startswith(f"{ann}/events/")
    event_id = e3.name.rsplit("/", 1)[1]
    got = await stub.GetEvent(pb.GetEventRequest(name=f"{visitor}/events/{event_id}"))
    assert got == e3
    assert got.traits["city"] == "Oslo" and got.anonymous_id == "anon-9"


@pytest.fixture
def scenario() -> Callable[[profile_service_pb2_grpc.ProfileServiceStub], Any]:
    return core_scenario


@pytest.fixture
def event_factory() -> Callable[..., pb.Event]:
    return make_event
