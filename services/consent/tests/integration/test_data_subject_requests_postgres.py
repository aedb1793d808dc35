"""Data subject requests worked by two consent replicas sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from rapport.consent.service_layer.subject_request_worker import SubjectRequestWorker
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.grpctesting import eventually

from .._consent_support import FakeClock, consent_stub, customer_name, record
from .._subject_rights_support import (
    ACCESS,
    ERASURE,
    FULL,
    STEP_RUNNING,
    STEP_SUCCEEDED,
    create,
    erasing_the_last_entry_keeps_cursors,
    fake_peers,
    get,
    listing_finds_requests_under_every_id_they_covered,
    step,
    until_succeeded,
)


async def test_two_replicas_never_run_the_same_step_twice(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    base = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with fake_peers() as peers:
        settings = peers.settings(base, subject_request_poll_seconds=0.01)
        async with consent_stub(settings, clock) as one, consent_stub(settings, clock) as two:
            customers = [customer_name() for _ in range(12)]
            created = []
            for i, customer in enumerate(customers):
                peers.hold_everywhere(customer)
                await record(one, customer, pb.CONSENT_STATE_GRANTED)
                stub = one if i % 2 else two
                created.append(await create(stub, customer, ERASURE))
            for request in created:
                await until_succeeded(one, request.name, within=20.0)

    calls = Counter(peers.journal.calls)
    # Per customer: identity's GetCustomer and EraseCustomer, then profile, decisioning
    # and delivery for the customer and the one the fake identity merged into it.
    assert len(calls) == 12 * 8
    assert set(calls.values()) == {1}, [c for c, n in calls.items() if n > 1]
    for customer in customers:
        [identity_at] = [
            i
            for i, c in enumerate(peers.journal.calls)
            if c == ("identity", "EraseCustomer", customer)
        ]
        others = [
            i for i, c in enumerate(peers.journal.calls) if c[2] == customer and c[0] != "identity"
        ]
        assert min(others) > identity_at


async def _killed(self: SubjectRequestWorker, working: object) -> None:
    """A replica killed (kill -9) gives nothing back: its leases must lapse."""


async def test_a_lapsed_lease_is_taken_over_by_another_replica(
    postgres_url: str, pg_schema: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SubjectRequestWorker, "_give_back", _killed)
    base = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with fake_peers() as peers:
        settings = peers.settings(
            base,
            subject_request_lease_seconds=60.0,
            subject_request_call_deadline_seconds=20.0,
        )
        customer = customer_name()
        peers.identity.merges[customer] = (customer, [])  # one id: one call per step
        peers.hold_everywhere(customer)
        hold = peers.delivery.hold = asyncio.Event()  # delivery's export hangs
        async with consent_stub(settings, clock) as first:
            created = await create(first, customer, ACCESS)

            async def others_done() -> bool:
                request = await get(first, created.name)
                return all(
                    step(request, s).state == STEP_SUCCEEDED
                    for s in ("identity", "profile", "decisioning", "consent")
                )

            await eventually(others_done)
            async with asyncio.timeout(5):
                await peers.delivery.received.wait()
        # The first replica stopped mid-step (killed): its lease still holds the request.
        peers.delivery.hold = None
        hold.set()
        peers.delivery.received.clear()
        async with consent_stub(settings, clock) as second:
            await asyncio.sleep(0.5)
            waiting = await get(second, created.name)
            # Until its lease lapses, nobody can tell the first replica died: RUNNING.
            assert step(waiting, "delivery").state == STEP_RUNNING
            assert peers.journal.of("delivery") == [customer]  # not taken before the lease ends

            clock.advance(seconds=61)
            done = await until_succeeded(second, created.name, FULL)
            assert step(done, "delivery").attempt_count == 1
            assert peers.journal.of("delivery") == [customer, customer]
            # What the first replica recorded is kept: those steps did not run again.
            assert peers.journal.of("identity") == [customer]
            assert peers.journal.of("profile") == [customer, customer]  # two export pages


async def test_a_stopping_replica_gives_its_requests_back_at_once(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    base = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with fake_peers() as peers:
        settings = peers.settings(base, subject_request_lease_seconds=600.0)
        customer = customer_name()
        peers.identity.merges[customer] = (customer, [])
        peers.hold_everywhere(customer)
        hold = peers.delivery.hold = asyncio.Event()  # delivery's export hangs
        async with consent_stub(settings, clock) as first:
            created = await create(first, customer, ACCESS)
            async with asyncio.timeout(5):
                await peers.delivery.received.wait()
        # Stopped (SIGTERM) mid-step: the lease is released, not left for 10 minutes.
        peers.delivery.hold = None
        hold.set()
        async with consent_stub(settings, clock) as second:
            done = await until_succeeded(second, created.name, FULL)  # the clock never moved
            assert step(done, "delivery").state == STEP_SUCCEEDED
            assert peers.journal.of("delivery") == [customer, customer]


async def test_concurrent_creations_with_one_request_id_make_one_request(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with consent_stub(settings, clock) as one, consent_stub(settings, clock) as two:
        customer, request_id = customer_name(), str(uuid.uuid4())
        created = await asyncio.gather(
            *(create(stub, customer, ERASURE, request_id=request_id) for stub in [one, two] * 4)
        )
        assert len({r.name for r in created}) == 1
        listed = await one.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(parent="workspaces/default", customer=customer)
        )
        assert [r.name for r in listed.data_subject_requests] == [created[0].name]


async def test_erasing_the_last_ledger_entry_keeps_watch_cursors_valid_on_postgres(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with consent_stub(settings, clock) as stub:
        await erasing_the_last_entry_keeps_cursors(stub)


async def test_listing_by_customer_finds_requests_under_every_id_they_covered_on_postgres(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    base = ConsentSettings(database_url=postgres_url, database_schema=pg_schema)
    async with fake_peers() as peers:
        async with consent_stub(peers.settings(base), clock) as stub:
            await listing_finds_requests_under_every_id_they_covered(stub, peers, clock)
