"""Following a data subject request (SQLite server, fake services): a step being done now
is told from one waiting, and listing a customer's requests finds those covering it
under any id."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import grpc
import pytest
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually

from .._consent_support import FakeClock, consent_stub, customer_name
from .._subject_rights_support import (
    ACCESS,
    ERASURE,
    STEP_PENDING,
    STEP_RUNNING,
    STEP_SUCCEEDED,
    Peers,
    create,
    fake_peers,
    get,
    listing_finds_requests_under_every_id_they_covered,
    step,
    until_succeeded,
)

# The worker's default lease on a request (RAPPORT_CONSENT_SUBJECT_REQUEST_LEASE_SECONDS).
LEASE = timedelta(seconds=300)


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    async with fake_peers() as fakes:
        yield fakes


async def _running(
    stub: pb_grpc.ConsentServiceStub, name: str, service: str
) -> pb.DataSubjectRequest:
    async def shows_running() -> pb.DataSubjectRequest | None:
        request = await get(stub, name)
        return request if step(request, service).state == STEP_RUNNING else None

    return await eventually(shows_running)


async def test_a_step_being_attempted_shows_running_since_its_attempt_began(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers
) -> None:
    # Found by the last note: an attempt in flight showed PENDING with its old
    # next_attempt_time, in the past: "waiting" could not be told from "being done".
    customer = customer_name()
    peers.hold_everywhere(customer)
    peers.identity.merges[customer] = (customer, [])
    hold = peers.identity.hold = asyncio.Event()
    async with consent_stub(peers.settings(sqlite_settings), clock) as stub:
        created = await create(stub, customer, ERASURE)
        assert step(created, "identity").state == STEP_PENDING  # not claimed yet

        started = clock.now
        in_flight = await _running(stub, created.name, "identity")
        identity = step(in_flight, "identity")
        assert identity.attempt_start_time.ToDatetime(tzinfo=UTC) == started
        assert not identity.HasField("next_attempt_time") and identity.attempt_count == 0
        # The others wait for identity's turn: not running, no start.
        assert [step(in_flight, s).state for s in ("profile", "consent")] == [STEP_PENDING] * 2
        assert not step(in_flight, "profile").HasField("attempt_start_time")
        listed = await stub.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(parent="workspaces/default", customer=customer)
        )
        assert step(listed.data_subject_requests[0], "identity").state == STEP_RUNNING

        # The attempt fails: waiting again, with its error and next attempt time.
        peers.identity.failures = [grpc.StatusCode.UNAVAILABLE]
        peers.identity.hold = None
        clock.advance(seconds=2)
        hold.set()

        async def failed_once() -> pb.DataSubjectRequest | None:
            request = await get(stub, created.name)
            return request if step(request, "identity").attempt_count == 1 else None

        waiting = step(await eventually(failed_once), "identity")
        assert waiting.state == STEP_PENDING and not waiting.HasField("attempt_start_time")
        assert waiting.next_attempt_time.ToDatetime(tzinfo=UTC) == clock.now + timedelta(seconds=5)
        assert waiting.last_error.code == grpc.StatusCode.UNAVAILABLE.value[0]

        clock.advance(seconds=5)
        done = await until_succeeded(stub, created.name)
        assert all(
            s.state == STEP_SUCCEEDED and not s.HasField("attempt_start_time") for s in done.steps
        )


async def test_a_step_whose_worker_stalled_shows_waiting_once_the_lease_lapsed(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    peers.identity.merges[customer] = (customer, [])
    hold = peers.delivery.hold = asyncio.Event()  # delivery's export hangs
    # The worker looks for work only when a request is created or one it holds ends:
    # nothing claims the request again once the lease lapsed (as when every replica
    # that could is away).
    settings = peers.settings(sqlite_settings, subject_request_poll_seconds=3600.0)
    request_id = str(uuid.uuid4())
    async with consent_stub(settings, clock) as stub:
        created = await create(stub, customer, ACCESS, request_id=request_id)
        started = clock.now
        in_flight = step(await _running(stub, created.name, "delivery"), "delivery")
        assert in_flight.attempt_start_time.ToDatetime(tzinfo=UTC) == started

        clock.advance(seconds=LEASE.total_seconds() - 1)
        assert step(await get(stub, created.name), "delivery").state == STEP_RUNNING
        # The lease lapsed: the worker may have died; the step waits for another.
        clock.advance(seconds=1)
        lapsed = await get(stub, created.name)
        delivery = step(lapsed, "delivery")
        assert delivery.state == STEP_PENDING and not delivery.HasField("attempt_start_time")
        assert delivery.attempt_count == 0 and not delivery.HasField("next_attempt_time")
        listed = await stub.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(parent="workspaces/default")
        )
        assert step(listed.data_subject_requests[0], "delivery").state == STEP_PENDING
        again = await create(stub, customer, ACCESS, request_id=request_id)  # AIP-155
        assert again.name == created.name
        assert step(again, "delivery").state == STEP_PENDING

        # The stalled worker ends its attempt (nobody took the request over): recorded.
        peers.delivery.hold = None
        hold.set()
        done = await until_succeeded(stub, created.name)
        assert step(done, "delivery").attempt_count == 1


async def test_listing_by_customer_finds_requests_under_every_id_they_covered(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers
) -> None:
    # Found by the last note: the filter matched the customer a request was made for
    # only, so a privacy officer searching for a merged-away id missed the requests
    # made for the person under their surviving id.
    async with consent_stub(peers.settings(sqlite_settings), clock) as stub:
        await listing_finds_requests_under_every_id_they_covered(stub, peers, clock)


async def test_a_failed_step_is_logged_with_the_name_of_its_status_code(
    sqlite_settings: ConsentSettings,
    clock: FakeClock,
    peers: Peers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The retry's log said `"error_reason": "4"`: operators read code names elsewhere.
    customer = customer_name()
    peers.identity.merges[customer] = (customer, [])
    peers.identity.failures = [grpc.StatusCode.DEADLINE_EXCEEDED]
    caplog.set_level(logging.WARNING, logger="rapport.consent.service_layer")
    async with consent_stub(peers.settings(sqlite_settings), clock) as stub:
        created = await create(stub, customer, ACCESS)

        async def failed_once() -> bool:
            return step(await get(stub, created.name), "identity").attempt_count == 1

        await eventually(failed_once)
        clock.advance(seconds=5)
        await until_succeeded(stub, created.name)
    retried = [r for r in caplog.records if r.getMessage().endswith("will be retried")]
    assert [(r.action, r.error_reason) for r in retried] == [("identity", "DEADLINE_EXCEEDED")]
