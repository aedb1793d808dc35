"""Data subject requests through the real consent server (SQLite), with fake services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from rapport.consent.adapters.data_subject_requests import SubjectRequestRepository
from rapport.consent.adapters.tables import data_subject_request_steps, data_subject_requests
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine

from .._consent_support import FakeClock, check, consent_stub, customer_name, expect_error, record
from .._subject_rights_support import (
    ACCESS,
    ERASURE,
    FULL,
    STEP_PENDING,
    STEP_SUCCEEDED,
    SUCCEEDED,
    Peers,
    create,
    erasing_the_last_entry_keeps_cursors,
    fake_peers,
    get,
    step,
    step_data,
    until_succeeded,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
GRANTED = pb.CONSENT_STATE_GRANTED
SERVICES = ["identity", "profile", "decisioning", "delivery", "consent"]


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    async with fake_peers() as fakes:
        yield fakes


@pytest.fixture
async def dsr_stub(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers
) -> AsyncIterator[pb_grpc.ConsentServiceStub]:
    async with consent_stub(peers.settings(sqlite_settings), clock) as consent:
        yield consent


async def test_erasure_runs_identity_first_then_every_other_service(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    created = await create(dsr_stub, customer, ERASURE, block_identifiers=True)
    assert created.name.startswith("workspaces/default/dataSubjectRequests/")
    assert [s.service for s in created.steps] == SERVICES
    assert all(s.state == STEP_PENDING for s in created.steps)

    done = await until_succeeded(dsr_stub, created.name)
    merged = f"{customer}-old"  # the fake identity's merge into the customer
    assert peers.journal.calls[:2] == [
        ("identity", "GetCustomer", customer),
        ("identity", "EraseCustomer", customer),
    ]
    # Each covered id is asked about: decisioning and delivery do not follow merges.
    assert sorted(peers.journal.calls[2:]) == sorted(
        (service, method, name)
        for service, method in [
            ("profile", "EraseProfile"),
            ("decisioning", "EraseCustomerDecisions"),
            ("delivery", "EraseCustomerMessages"),
        ]
        for name in (customer, merged)
    )
    assert list(done.covered_customers) == [customer, merged]
    assert peers.identity.blocked == [True]
    # The receipt: what each service said it erased (the fakes: one decision, one
    # message for the customer, nothing under the merged id).
    assert {s.service: s.record_count for s in done.steps} == {
        "identity": 0,
        "profile": 0,
        "decisioning": 1,
        "delivery": 1,
        "consent": 0,
    }
    assert all(s.state == STEP_SUCCEEDED and s.attempt_count == 1 for s in done.steps)
    assert done.complete_time.ToDatetime(tzinfo=UTC) == clock.now
    assert not done.HasField("expire_time")  # an erasure keeps nothing to expire


async def test_erasure_waits_for_identity_while_identity_fails(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    peers.identity.failures = [grpc.StatusCode.UNAVAILABLE]
    created = await create(dsr_stub, customer, ERASURE)

    async def identity_failed() -> pb.DataSubjectRequest | None:
        request = await get(dsr_stub, created.name)
        return request if step(request, "identity").attempt_count == 1 else None

    waiting = await eventually(identity_failed)
    identity = step(waiting, "identity")
    assert identity.state == STEP_PENDING
    assert identity.last_error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert identity.last_error.message == "identity says unavailable"
    assert identity.next_attempt_time.ToDatetime(tzinfo=UTC) == clock.now + timedelta(seconds=5)
    # Nothing else ran: the others wait for identity.
    assert [s for s, _m, _c in peers.journal.calls] == ["identity"]
    assert all(step(waiting, s).attempt_count == 0 for s in SERVICES[1:])

    clock.advance(seconds=5)
    done = await until_succeeded(dsr_stub, created.name)
    identity = step(done, "identity")
    assert identity.attempt_count == 2 and not identity.HasField("last_error")
    assert not identity.HasField("next_attempt_time")
    # GetCustomer failed, then GetCustomer and EraseCustomer, then three services
    # asked about the customer and the one merged into it.
    assert len(peers.journal.calls) == 9


async def test_erasure_of_a_merged_away_customer_covers_the_whole_person(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers
) -> None:
    # c_old was merged into the survivor, which also absorbed c_other: identity refuses
    # to erase a merged-away customer (CUSTOMER_MERGED), and decisioning and delivery
    # keep what they hold under each old id.
    old, survivor, other = customer_name(), customer_name(), customer_name()
    peers.identity.merges[old] = (survivor, [old, other])
    for name in (old, survivor, other):
        peers.hold_everywhere(name)
    created = await create(dsr_stub, old, ERASURE)

    done = await until_succeeded(dsr_stub, created.name)
    assert list(done.covered_customers) == [survivor, old, other]
    assert peers.journal.of("identity", "EraseCustomer") == [survivor]
    for service, method in [
        ("profile", "EraseProfile"),
        ("decisioning", "EraseCustomerDecisions"),
        ("delivery", "EraseCustomerMessages"),
    ]:
        assert sorted(peers.journal.of(service, method)) == sorted([old, survivor, other])
        fake = getattr(peers, service)
        assert not fake.held & {old, survivor, other}


async def test_access_of_a_merged_customer_exports_every_id(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers
) -> None:
    old, survivor = customer_name(), customer_name()
    peers.identity.merges[old] = (survivor, [old])
    for name in (old, survivor):
        peers.hold_everywhere(name)
    created = await create(dsr_stub, old, ACCESS)

    done = await until_succeeded(dsr_stub, created.name, FULL)
    assert list(done.covered_customers) == [survivor, old]
    # Identity first (it finds whom the request covers), then the others.
    assert peers.journal.calls[0] == ("identity", "GetCustomer", old)
    assert sorted(peers.journal.of("delivery")) == sorted([old, survivor])
    assert len(step_data(done, "delivery")["messages"]) == 2
    assert len(step_data(done, "decisioning")["decisions"]) == 4
    assert (step(done, "delivery").record_count, step(done, "decisioning").record_count) == (2, 4)
    # Profile keeps the person under the survivor: asked once.
    assert peers.journal.of("profile", "ExportProfile")[0] == survivor


async def test_not_found_from_a_service_means_it_holds_nothing(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers
) -> None:
    customer = customer_name()  # held nowhere: every service answers NOT_FOUND
    erasure = await until_succeeded(dsr_stub, (await create(dsr_stub, customer, ERASURE)).name)
    assert all(s.attempt_count == 1 for s in erasure.steps)

    access = await until_succeeded(dsr_stub, (await create(dsr_stub, customer, ACCESS)).name, FULL)
    assert step_data(access, "identity") == {"customer": {}}
    assert step_data(access, "profile") == {
        "profile": {},
        "traits": {},
        "events": [],
        "group_memberships": [],
        "merged_customers": [],
    }
    assert step_data(access, "decisioning") == {
        "decisions": [],
        "outcomes": [],
        "model_contributions": [],
        "trigger_activities": [],
    }
    assert step_data(access, "delivery") == {"messages": []}
    assert step_data(access, "consent") == {"consent_records": []}
    # The receipt of a mistyped or long-erased id: nothing anywhere.
    assert [s.record_count for s in erasure.steps] == [0] * len(SERVICES)
    assert [s.record_count for s in access.steps] == [0] * len(SERVICES)


async def test_a_failing_service_is_retried_with_its_error_shown_until_it_succeeds(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    peers.delivery.failures = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.PERMISSION_DENIED]
    created = await create(dsr_stub, customer, ACCESS)

    async def delivery_attempts(count: int) -> pb.DataSubjectRequest | None:
        request = await get(dsr_stub, created.name)
        return request if step(request, "delivery").attempt_count == count else None

    async def others_done() -> pb.DataSubjectRequest | None:
        request = await delivery_attempts(1)
        others = [step(request, s) for s in SERVICES if s != "delivery"] if request else []
        return request if others and all(s.state == STEP_SUCCEEDED for s in others) else None

    # The others succeed meanwhile (access steps are independent).
    first = await eventually(others_done)
    assert first.state == pb.DataSubjectRequest.STATE_RUNNING
    assert step(first, "delivery").last_error.code == grpc.StatusCode.UNAVAILABLE.value[0]

    clock.advance(seconds=5)
    second = await eventually(lambda: delivery_attempts(2))
    assert step(second, "delivery").last_error.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert step(second, "delivery").last_error.message == "delivery says permission_denied"

    clock.advance(seconds=5)
    done = await until_succeeded(dsr_stub, created.name, FULL)
    assert step(done, "delivery").attempt_count == 3
    assert step_data(done, "delivery")["messages"][0]["message"]["name"]


async def test_access_collects_every_service_and_full_view_shows_it(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    consent_record = await record(dsr_stub, customer, GRANTED)
    created = await create(dsr_stub, customer, ACCESS, block_identifiers=True)
    assert created.block_identifiers is False  # read for an erasure only

    basic = await until_succeeded(dsr_stub, created.name)
    assert all(s.data_json == "" for s in basic.steps)
    retention = timedelta(days=30)
    assert basic.expire_time.ToDatetime(tzinfo=UTC) == clock.now + retention

    full = await get(dsr_stub, created.name, FULL)
    assert step_data(full, "identity")["customer"]["name"] == customer
    profile = step_data(full, "profile")
    assert [e["message_id"] for e in profile["events"]] == ["m0", "m1", "m2"]  # two pages
    assert profile["traits"] == {"plan": {"value": "gold"}}
    decisions = step_data(full, "decisioning")["decisions"]
    assert [d["name"].rsplit("/", 1)[1] for d in decisions] == ["d1", "d2"]
    assert len(step_data(full, "delivery")["messages"]) == 1
    records = step_data(full, "consent")["consent_records"]
    assert [r["name"] for r in records] == [consent_record.name]
    assert records[0]["state"] == "CONSENT_STATE_GRANTED"
    assert peers.journal.of("profile", "ExportProfile") == [customer, customer]


async def test_request_id_makes_creation_idempotent(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers
) -> None:
    customer = customer_name()
    request_id = str(uuid.uuid4())
    first = await create(dsr_stub, customer, ACCESS, request_id=request_id)
    again = await create(dsr_stub, customer, ACCESS, request_id=request_id.upper())
    assert again.name == first.name
    await expect_error(
        create(dsr_stub, customer, ERASURE, request_id=request_id), grpc.StatusCode.ALREADY_EXISTS
    )
    await expect_error(
        create(dsr_stub, customer_name(), ACCESS, request_id=request_id),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    other = await create(dsr_stub, customer, ACCESS, request_id=str(uuid.uuid4()))
    without_id = [await create(dsr_stub, customer, ACCESS) for _ in range(2)]
    names = {first.name, other.name, *(r.name for r in without_id)}
    assert len(names) == 4
    listed = await dsr_stub.ListDataSubjectRequests(
        pb.ListDataSubjectRequestsRequest(parent="workspaces/default", customer=customer)
    )
    assert len(listed.data_subject_requests) == 4


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    dsr_stub: pb_grpc.ConsentServiceStub,
) -> None:
    customer = customer_name()
    await expect_error(create(dsr_stub, customer, ACCESS, parent="nope"), INVALID, field="parent")
    await expect_error(create(dsr_stub, "", ACCESS), INVALID, field="data_subject_request.customer")
    await expect_error(
        create(dsr_stub, customer_name("brand2"), ACCESS),
        INVALID,
        field="data_subject_request.customer",
    )
    await expect_error(create(dsr_stub, customer, 0), INVALID, field="data_subject_request.type")
    await expect_error(create(dsr_stub, customer, 99), INVALID, field="data_subject_request.type")
    await expect_error(
        create(dsr_stub, customer, ACCESS, request_id="not-a-uuid"), INVALID, field="request_id"
    )
    await expect_error(get(dsr_stub, "workspaces/default/x"), INVALID, field="name")
    await expect_error(
        get(dsr_stub, "workspaces/default/dataSubjectRequests/abc", view=7), INVALID, field="view"
    )
    list_request = pb.ListDataSubjectRequestsRequest
    await expect_error(
        dsr_stub.ListDataSubjectRequests(
            list_request(parent="workspaces/default", customer=customer_name("brand2"))
        ),
        INVALID,
        field="customer",
    )
    await expect_error(
        dsr_stub.ListDataSubjectRequests(list_request(parent="workspaces/default", page_size=-1)),
        INVALID,
        field="page_size",
    )
    await expect_error(
        dsr_stub.ListDataSubjectRequests(list_request(parent="workspaces/default", page_token="x")),
        INVALID,
        field="page_token",
    )
    listed = await dsr_stub.ListDataSubjectRequests(list_request(parent="workspaces/default"))
    assert list(listed.data_subject_requests) == []


async def test_unknown_requests_and_other_workspaces_are_not_found(
    dsr_stub: pb_grpc.ConsentServiceStub,
) -> None:
    created = await create(dsr_stub, customer_name(), ACCESS)
    request_id = created.name.rsplit("/", 1)[1]
    await expect_error(
        get(dsr_stub, "workspaces/default/dataSubjectRequests/unknown"), grpc.StatusCode.NOT_FOUND
    )
    # Served workspace, but the request is another workspace's.
    await expect_error(
        get(dsr_stub, f"workspaces/brand2/dataSubjectRequests/{request_id}"),
        grpc.StatusCode.NOT_FOUND,
    )
    # A workspace this deployment does not serve.
    await expect_error(
        get(dsr_stub, f"workspaces/other/dataSubjectRequests/{request_id}"),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        create(dsr_stub, customer_name("other"), ACCESS, parent="workspaces/other"),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_list_is_newest_first_paged_and_basic(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    names = []
    for _ in range(5):
        clock.advance(seconds=1)
        names.append((await create(dsr_stub, customer, ACCESS)).name)
    await create(dsr_stub, customer_name(), ACCESS)  # another customer's
    for name in names:
        await until_succeeded(dsr_stub, name)

    seen, token = [], ""
    while True:
        page = await dsr_stub.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(
                parent="workspaces/default", customer=customer, page_size=2, page_token=token
            )
        )
        assert all(s.data_json == "" for r in page.data_subject_requests for s in r.steps)
        seen += [r.name for r in page.data_subject_requests]
        if not (token := page.next_page_token):
            break
    assert seen == names[::-1]
    everyone = await dsr_stub.ListDataSubjectRequests(
        pb.ListDataSubjectRequestsRequest(parent="workspaces/default")
    )
    assert len(everyone.data_subject_requests) == 6


async def test_erasure_erases_consent_ledger_cache_and_earlier_access_results(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    customer = customer_name()
    peers.hold_everywhere(customer)
    await record(dsr_stub, customer, GRANTED)
    assert (await check(dsr_stub, customer)).allowed  # now cached (in-process cache)
    earlier = await until_succeeded(dsr_stub, (await create(dsr_stub, customer, ACCESS)).name)
    assert step_data(await get(dsr_stub, earlier.name, FULL), "consent")["consent_records"]

    await until_succeeded(dsr_stub, (await create(dsr_stub, customer, ERASURE)).name)

    answer = await check(dsr_stub, customer)
    assert (answer.allowed, answer.reason) == (False, "NO_RECORD_DEFAULT_DENY")
    history = await dsr_stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert list(history.consent_records) == []
    # What the earlier access found is gone; the request itself stays as the audit trail.
    kept = await get(dsr_stub, earlier.name, FULL)
    assert kept.state == SUCCEEDED and all(s.data_json == "" for s in kept.steps)
    assert kept.expire_time.ToDatetime(tzinfo=UTC) <= clock.now  # says it is gone

    # The invariant: an access after the erasure finds nothing anywhere.
    after = await until_succeeded(dsr_stub, (await create(dsr_stub, customer, ACCESS)).name, FULL)
    assert step_data(after, "consent") == {"consent_records": []}
    assert step_data(after, "identity") == {"customer": {}}
    assert step_data(after, "profile")["events"] == []
    assert step_data(after, "decisioning")["decisions"] == []
    assert step_data(after, "delivery") == {"messages": []}


async def test_an_access_overtaken_by_an_erasure_keeps_nothing_it_collected_before(
    dsr_stub: pb_grpc.ConsentServiceStub, peers: Peers, clock: FakeClock
) -> None:
    # Found by a privacy walkthrough: an access whose delivery step was slow collected
    # the messages before the erasure reached delivery, and recorded them after the
    # erasure had deleted every access result: a finished erasure left a copy.
    customer = customer_name()
    peers.identity.merges[customer] = (customer, [])
    peers.hold_everywhere(customer)
    hold = peers.delivery.hold = asyncio.Event()
    access = await create(dsr_stub, customer, ACCESS)
    async with asyncio.timeout(5):
        await peers.delivery.received.wait()  # delivery read the messages; not answered
    peers.delivery.hold = None  # the erasure's calls go through
    clock.advance(seconds=1)

    # Not held up by the access waiting on delivery, and consent's step last.
    erasure = await until_succeeded(dsr_stub, (await create(dsr_stub, customer, ERASURE)).name)
    consent_done = step(erasure, "consent").complete_time.ToDatetime(tzinfo=UTC)
    assert all(
        step(erasure, s).complete_time.ToDatetime(tzinfo=UTC) <= consent_done for s in SERVICES[:-1]
    )
    hold.set()  # delivery answers what it read before the erasure

    done = await until_succeeded(dsr_stub, access.name, FULL)
    delivery = step(done, "delivery")
    assert step_data(done, "delivery") == {"messages": []}
    assert delivery.attempt_count == 2  # collected again, after the erasure
    # What the other steps collected before the erasure was deleted by it.
    assert [s.service for s in done.steps if s.data_json] == ["delivery"]
    assert "workspaces/default/messages/1" not in str(done)


async def test_erasing_the_last_ledger_entry_keeps_watch_cursors_valid(
    dsr_stub: pb_grpc.ConsentServiceStub,
) -> None:
    await erasing_the_last_entry_keeps_cursors(dsr_stub)


async def test_expired_access_results_are_pruned(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers, tmp_path: Path
) -> None:
    settings = peers.settings(sqlite_settings, subject_request_access_retention_seconds=3600)
    customer = customer_name()
    peers.hold_everywhere(customer)
    async with consent_stub(settings, clock) as stub:
        done = await until_succeeded(stub, (await create(stub, customer, ACCESS)).name, FULL)
        assert done.expire_time.ToDatetime(tzinfo=UTC) == clock.now + timedelta(hours=1)
        assert all(s.data_json for s in done.steps)

        clock.advance(hours=1)
        url = settings.database_url_or_default()

        async def stored_data() -> list[str | None]:
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    rows = await conn.execute(sa.select(data_subject_request_steps.c.data_json))
                    return [row.data_json for row in rows]
            finally:
                await engine.dispose()

        async def pruned() -> bool:
            values = await stored_data()
            return bool(values) and all(v is None for v in values)

        await eventually(pruned)
        expired = await get(stub, done.name, FULL)
        assert expired.state == SUCCEEDED and all(s.data_json == "" for s in expired.steps)


async def test_an_unreadable_stored_request_never_stops_the_worker(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers
) -> None:
    settings = peers.settings(sqlite_settings)
    engine = create_engine(settings.database_url_or_default())
    async with consent_stub(settings, clock) as stub:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(data_subject_requests).values(
                    id="fromthefuture",
                    workspace="default",
                    customer_id="c1",
                    type="rectification",  # a type a newer version knows
                    block_identifiers=False,
                    state="running",
                    create_time=clock.now,
                    next_attempt_time=clock.now,
                )
            )
        await engine.dispose()
        customer = customer_name()
        done = await until_succeeded(stub, (await create(stub, customer, ERASURE)).name)
        assert done.state == SUCCEEDED
        listed = await stub.ListDataSubjectRequests(
            pb.ListDataSubjectRequestsRequest(parent="workspaces/default")
        )
        assert [r.name for r in listed.data_subject_requests] == [done.name]
        await expect_error(
            get(stub, "workspaces/default/dataSubjectRequests/fromthefuture"),
            grpc.StatusCode.FAILED_PRECONDITION,
        )


async def test_a_deployment_without_other_services_runs_consent_alone(
    stub: pb_grpc.ConsentServiceStub,
) -> None:
    customer = customer_name()
    await record(stub, customer, GRANTED)
    created = await create(stub, customer, ERASURE)
    assert [s.service for s in created.steps] == ["consent"]
    await until_succeeded(stub, created.name)
    assert not (await check(stub, customer)).allowed


async def test_a_call_past_its_deadline_is_retried_with_the_deadline_shown(
    sqlite_settings: ConsentSettings, clock: FakeClock, peers: Peers
) -> None:
    settings = peers.settings(
        sqlite_settings,
        subject_request_call_deadline_seconds=0.3,
        subject_request_lease_seconds=1.0,
    )
    customer = customer_name()
    peers.hold_everywhere(customer)
    hold = peers.delivery.hold = asyncio.Event()  # delivery never answers in time
    async with consent_stub(settings, clock) as stub:
        created = await create(stub, customer, ACCESS)

        async def delivery_failed() -> pb.DataSubjectRequest | None:
            request = await get(stub, created.name)
            return request if step(request, "delivery").attempt_count == 1 else None

        waiting = await eventually(delivery_failed)
        delivery = step(waiting, "delivery")
        assert delivery.state == STEP_PENDING
        assert delivery.last_error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        hold.set()
        peers.delivery.hold = None
        clock.advance(seconds=5)
        done = await until_succeeded(stub, created.name)
        assert step(done, "delivery").attempt_count == 2


def test_settings_keep_steps_within_their_lease_and_backoff_ordered() -> None:
    with pytest.raises(ValueError, match="twice"):
        ConsentSettings(
            subject_request_lease_seconds=30.0, subject_request_call_deadline_seconds=20.0
        )
    with pytest.raises(ValueError, match="backoff"):
        ConsentSettings(
            subject_request_min_backoff_seconds=10.0, subject_request_max_backoff_seconds=5.0
        )
    defaults = ConsentSettings()
    assert (defaults.profile_address, defaults.decisioning_address, defaults.delivery_address) == (
        "",
        "",
        "",
    )


async def test_the_worker_outlives_a_failing_pass(
    sqlite_settings: ConsentSettings,
    clock: FakeClock,
    peers: Peers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = SubjectRequestRepository.claim_due
    failures = []

    async def failing_once(self: SubjectRequestRepository, *args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise OSError("the database is away")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SubjectRequestRepository, "claim_due", failing_once)
    async with consent_stub(peers.settings(sqlite_settings), clock) as stub:
        done = await until_succeeded(stub, (await create(stub, customer_name(), ERASURE)).name)
    assert failures == [1] and done.state == SUCCEEDED
