"""Fake identity, profile, decisioning and delivery for data subject requests: each
records its calls in one shared journal, answers from what a test put in, and can be
told to fail (or hold) its next calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.decisioning.v1 import decisioning_service_pb2 as dpb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as dpb_grpc
from rapport.delivery.v1 import delivery_service_pb2 as lpb
from rapport.delivery.v1 import delivery_service_pb2_grpc as lpb_grpc
from rapport.grpctesting import eventually, first_responses, serve_fakes
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from rapport.profile.v1 import profile_service_pb2 as ppb
from rapport.profile.v1 import profile_service_pb2_grpc as ppb_grpc

from ._consent_support import FakeClock, customer_name, record


@dataclass
class Journal:
    """Every call of every fake, in order: (service, method, customer name)."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def of(self, service: str, method: str | None = None) -> list[str]:
        return [c for s, m, c in self.calls if s == service and (method is None or m == method)]


class _Fake:
    service = ""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        # Codes the next calls fail with, first first.
        self.failures: list[grpc.StatusCode] = []
        # Customers (names) this service holds something on; others are NOT_FOUND.
        self.held: set[str] = set()
        # Set: calls wait for it (a test holds a call in flight).
        self.hold: asyncio.Event | None = None
        self.received = asyncio.Event()

    async def _enter(self, method: str, customer: str, context: Any) -> None:
        self.journal.calls.append((self.service, method, customer))
        # What the service holds is read when the call starts, answered after a hold.
        holds_it = customer in self.held
        self.received.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            code = self.failures.pop(0)
            await context.abort(code, f"{self.service} says {code.name.lower()}")
        if not holds_it:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{customer} not found")


class FakeIdentity(_Fake, ipb_grpc.IdentityServiceServicer):
    service = "identity"

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.blocked: list[bool] = []
        # Customer name -> (the survivor GetCustomer answers, the customers merged into
        # it); a customer absent here is its own survivor with one `-old` merged in.
        self.merges: dict[str, tuple[str, list[str]]] = {}

    async def EraseCustomer(self, request: ipb.EraseCustomerRequest, context: Any):  # noqa: N802
        await self._enter("EraseCustomer", request.name, context)
        self.blocked.append(request.block_identifiers)
        self.held.discard(request.name)
        return ipb.EraseCustomerResponse()

    async def WatchChanges(self, request: ipb.WatchChangesRequest, context: Any):  # noqa: N802
        # Consent follows identity's changes too: none here, the stream stays open.
        await asyncio.Event().wait()
        yield ipb.WatchChangesResponse()

    async def GetCustomer(self, request: ipb.GetCustomerRequest, context: Any):  # noqa: N802
        await self._enter("GetCustomer", request.name, context)
        survivor, merged = self.merges.get(request.name, (request.name, [f"{request.name}-old"]))
        return ipb.Customer(name=survivor, merged_customers=merged)


class FakeProfile(_Fake, ppb_grpc.ProfileServiceServicer):
    """Exports three events over pages of two (page_size is ignored)."""

    service = "profile"
    EVENTS = [{"message_id": f"m{i}", "event": "Viewed"} for i in range(3)]

    async def EraseProfile(self, request: ppb.EraseProfileRequest, context: Any):  # noqa: N802
        customer = request.name.removesuffix("/profile")
        await self._enter("EraseProfile", customer, context)
        self.held.discard(customer)
        return ppb.EraseProfileResponse(name=request.name)

    async def ExportProfile(self, request: ppb.ExportProfileRequest, context: Any):  # noqa: N802
        customer = request.name.removesuffix("/profile")
        await self._enter("ExportProfile", customer, context)
        start = int(request.page_token or 0)
        data: dict[str, Any] = {"customer": customer, "events": self.EVENTS[start : start + 2]}
        if start == 0:
            data |= {"traits": {"plan": {"value": "gold"}}, "profile": {"event_count": 3}}
        more = start + 2 < len(self.EVENTS)
        return ppb.ExportProfileResponse(
            name=request.name,
            data_json=json.dumps(data),
            next_page_token=str(start + 2) if more else "",
        )


class FakeDecisioning(_Fake, dpb_grpc.DecisioningServiceServicer):
    service = "decisioning"

    async def EraseCustomerDecisions(  # noqa: N802
        self, request: dpb.EraseCustomerDecisionsRequest, context: Any
    ):
        await self._enter("EraseCustomerDecisions", request.customer, context)
        self.held.discard(request.customer)
        return dpb.EraseCustomerDecisionsResponse(decision_count=1)

    async def ExportCustomerDecisions(  # noqa: N802
        self, request: dpb.ExportCustomerDecisionsRequest, context: Any
    ):
        await self._enter("ExportCustomerDecisions", request.customer, context)
        if not request.page_token:
            return dpb.ExportCustomerDecisionsResponse(
                decisions=[dpb.Decision(name=f"{request.parent}/decisions/d1")],
                next_page_token="2",
            )
        return dpb.ExportCustomerDecisionsResponse(
            decisions=[dpb.Decision(name=f"{request.parent}/decisions/d2")]
        )


class FakeDelivery(_Fake, lpb_grpc.DeliveryServiceServicer):
    service = "delivery"

    async def EraseCustomerMessages(  # noqa: N802
        self, request: lpb.EraseCustomerMessagesRequest, context: Any
    ):
        await self._enter("EraseCustomerMessages", request.parent, context)
        self.held.discard(request.parent)
        return lpb.EraseCustomerMessagesResponse(erased_message_count=1)

    async def ExportCustomerMessages(  # noqa: N802
        self, request: lpb.ExportCustomerMessagesRequest, context: Any
    ):
        await self._enter("ExportCustomerMessages", request.parent, context)
        return lpb.ExportCustomerMessagesResponse(
            messages=[
                lpb.ExportedMessage(message=lpb.Message(name="workspaces/default/messages/1"))
            ]
        )


@dataclass
class Peers:
    journal: Journal
    identity: FakeIdentity
    profile: FakeProfile
    decisioning: FakeDecisioning
    delivery: FakeDelivery
    address: str

    @property
    def all(self) -> list[_Fake]:
        return [self.identity, self.profile, self.decisioning, self.delivery]

    def hold_everywhere(self, customer: str) -> None:
        for fake in self.all:
            fake.held.add(customer)

    def settings(self, base: ConsentSettings, **changes: Any) -> ConsentSettings:
        """``base`` calling these fakes, its worker quick: failed steps wait 5 s."""
        values: dict[str, Any] = {
            "identity_address": self.address,
            "profile_address": self.address,
            "decisioning_address": self.address,
            "delivery_address": self.address,
            "subject_request_poll_seconds": 0.05,
            "subject_request_min_backoff_seconds": 5.0,
            "subject_request_max_backoff_seconds": 5.0,
        }
        values.update(changes)
        return base.model_copy(update=values)


@asynccontextmanager
async def fake_peers() -> AsyncIterator[Peers]:
    journal = Journal()
    identity = FakeIdentity(journal)
    profile = FakeProfile(journal)
    decisioning = FakeDecisioning(journal)
    delivery = FakeDelivery(journal)
    async with serve_fakes(
        lambda s: ipb_grpc.add_IdentityServiceServicer_to_server(identity, s),
        lambda s: ppb_grpc.add_ProfileServiceServicer_to_server(profile, s),
        lambda s: dpb_grpc.add_DecisioningServiceServicer_to_server(decisioning, s),
        lambda s: lpb_grpc.add_DeliveryServiceServicer_to_server(delivery, s),
    ) as address:
        yield Peers(journal, identity, profile, decisioning, delivery, address)


ACCESS = pb.DATA_SUBJECT_REQUEST_TYPE_ACCESS
ERASURE = pb.DATA_SUBJECT_REQUEST_TYPE_ERASURE
FULL = pb.DATA_SUBJECT_REQUEST_VIEW_FULL
SUCCEEDED = pb.DataSubjectRequest.STATE_SUCCEEDED
STEP_PENDING = pb.DataSubjectRequestStep.STATE_PENDING
STEP_SUCCEEDED = pb.DataSubjectRequestStep.STATE_SUCCEEDED
STEP_RUNNING = pb.DataSubjectRequestStep.STATE_RUNNING


async def create(
    stub: pb_grpc.ConsentServiceStub,
    customer: str,
    kind: int,
    *,
    block_identifiers: bool = False,
    request_id: str = "",
    parent: str = "workspaces/default",
) -> pb.DataSubjectRequest:
    return await stub.CreateDataSubjectRequest(
        pb.CreateDataSubjectRequestRequest(
            parent=parent,
            data_subject_request=pb.DataSubjectRequest(
                customer=customer, type=kind, block_identifiers=block_identifiers
            ),
            request_id=request_id,
        )
    )


async def get(stub: pb_grpc.ConsentServiceStub, name: str, view: int = 0) -> pb.DataSubjectRequest:
    return await stub.GetDataSubjectRequest(pb.GetDataSubjectRequestRequest(name=name, view=view))


async def until_succeeded(
    stub: pb_grpc.ConsentServiceStub, name: str, view: int = 0, within: float = 10.0
) -> pb.DataSubjectRequest:
    async def done() -> pb.DataSubjectRequest | None:
        request = await get(stub, name, view)
        return request if request.state == SUCCEEDED else None

    return await eventually(done, timeout=within)


def step(request: pb.DataSubjectRequest, service: str) -> pb.DataSubjectRequestStep:
    [found] = [s for s in request.steps if s.service == service]
    return found


def step_data(request: pb.DataSubjectRequest, service: str) -> dict[str, Any]:
    return json.loads(step(request, service).data_json)


async def erasing_the_last_entry_keeps_cursors(stub: pb_grpc.ConsentServiceStub) -> None:
    """The ledger's last entry erased: a watcher's cursor on it stays valid, and its
    position is never given out again (the next entry is streamed from it)."""
    kept, erased = customer_name(), customer_name()
    await record(stub, kept, pb.CONSENT_STATE_GRANTED)
    last = await record(stub, erased, pb.CONSENT_STATE_GRANTED)
    watch = pb.WatchConsentRecordsRequest(parent="workspaces/default")
    responses = await first_responses(stub.WatchConsentRecords(watch), 2)
    cursor = responses[1].cursor
    assert responses[1].consent_record.name == last.name

    await until_succeeded(stub, (await create(stub, erased, ERASURE)).name)
    newer = await record(stub, kept, pb.CONSENT_STATE_GRANTED)
    resume = pb.WatchConsentRecordsRequest(parent="workspaces/default", start_cursor=cursor)
    [resumed] = await first_responses(stub.WatchConsentRecords(resume), 1, within=2.0)
    assert resumed.consent_record.name == newer.name
    assert int(resumed.cursor) > int(cursor)


async def listed_for(stub: pb_grpc.ConsentServiceStub, customer: str, page_size: int) -> list[str]:
    """The names ListDataSubjectRequests gives for ``customer``, every page read."""
    names, token = [], ""
    while True:
        page = await stub.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(
                parent="workspaces/default",
                customer=customer,
                page_size=page_size,
                page_token=token,
            )
        )
        names += [r.name for r in page.data_subject_requests]
        if not (token := page.next_page_token):
            return names


async def listing_finds_requests_under_every_id_they_covered(
    stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    """A privacy officer looking for a merged-away id finds the requests made for the
    person under another id, newest first and paged, and only those."""
    survivor, merged_away, unrelated = customer_name(), customer_name(), customer_name()
    for name in (survivor, merged_away):
        peers.identity.merges[name] = (survivor, [merged_away])
    peers.identity.merges[unrelated] = (unrelated, [])
    for name in (survivor, merged_away, unrelated):
        peers.identity.held.add(name)
    made = []
    for customer in (survivor, merged_away, survivor, unrelated):
        clock.advance(seconds=1)
        made.append(await create(stub, customer, ACCESS))
    # Two more at one time: the page boundary falls between equal create times.
    made += [await create(stub, survivor, ERASURE), await create(stub, merged_away, ACCESS)]
    for request in made:
        await until_succeeded(stub, request.name)
    ties = sorted([made[4].name, made[5].name], reverse=True)  # equal times: by id
    person = [*ties, made[2].name, made[1].name, made[0].name]

    for customer in (merged_away, survivor):
        for page_size in (1, 2, 50):
            assert await listed_for(stub, customer, page_size) == person, (customer, page_size)
    assert await listed_for(stub, unrelated, 1) == [made[3].name]
    assert await listed_for(stub, customer_name(), 1) == []
