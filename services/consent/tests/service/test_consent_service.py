"""The consent service through its real gRPC server (SQLite, in-process cache)."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.type.v1 import channel_pb2

from .._consent_support import (
    FakeClock,
    check,
    consent_stub,
    customer_name,
    expect_error,
    record,
    run_core_scenario,
    ts,
    valid_record,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
Stub = pb_grpc.ConsentServiceStub


async def test_core_scenario(stub: Stub, clock: FakeClock) -> None:
    await run_core_scenario(stub, clock)


async def test_record_returns_the_stored_entry(stub: Stub, clock: FakeClock) -> None:
    customer = customer_name()
    decided_at = clock.now - timedelta(days=3)
    stored = await stub.RecordConsent(
        pb.RecordConsentRequest(
            parent=customer,
            record=pb.ConsentRecord(
                name="ignored",
                customer="ignored",
                purpose="renewals.home",
                channel=channel_pb2.CHANNEL_SMS,
                state=pb.CONSENT_STATE_GRANTED,
                source="call_centre",
                notice_version="2025-01",
                proof="recording-991",
                effective_time=ts(decided_at),
                record_time=ts(clock.now - timedelta(days=30)),
            ),
        )
    )
    assert stored.name.startswith(f"{customer}/consentRecords/")
    assert stored.customer == customer
    assert (stored.purpose, stored.channel, stored.state) == (
        "renewals.home",
        channel_pb2.CHANNEL_SMS,
        pb.CONSENT_STATE_GRANTED,
    )
    assert (stored.source, stored.notice_version, stored.proof) == (
        "call_centre",
        "2025-01",
        "recording-991",
    )
    assert stored.effective_time.ToDatetime(tzinfo=UTC) == decided_at
    assert stored.record_time.ToDatetime(tzinfo=UTC) == clock.now  # server time, not ours

    answer = await check(stub, customer, purpose="renewals.home", channel=channel_pb2.CHANNEL_SMS)
    assert answer.record == stored
    # Backdated but recorded now: at a time between the two it was not yet known.
    past = await check(
        stub,
        customer,
        purpose="renewals.home",
        channel=channel_pb2.CHANNEL_SMS,
        at=clock.now - timedelta(days=1),
    )
    assert past.reason == "NO_RECORD_DEFAULT_DENY"


@pytest.mark.parametrize(
    ("parent", "consent", "field"),
    [
        ("", valid_record(), "parent"),
        ("customers/abc", valid_record(), "parent"),
        ("workspaces/default/customers/ABC", valid_record(), "parent"),
        (None, pb.ConsentRecord(), "record.purpose"),
        (None, valid_record(purpose=""), "record.purpose"),
        (None, valid_record(purpose="Marketing"), "record.purpose"),
        (None, valid_record(purpose="m" * 65), "record.purpose"),
        (None, valid_record(channel=channel_pb2.CHANNEL_UNSPECIFIED), "record.channel"),
        (None, valid_record(channel=channel_pb2.CHANNEL_INBOUND), "record.channel"),
        (None, valid_record(channel=42), "record.channel"),
        (None, valid_record(state=pb.CONSENT_STATE_UNSPECIFIED), "record.state"),
        (None, valid_record(state=7), "record.state"),
        (None, valid_record(source=""), "record.source"),
        (None, valid_record(source="s" * 101), "record.source"),
        (None, valid_record(notice_version="n" * 201), "record.notice_version"),
        (None, valid_record(proof="p" * 1001), "record.proof"),
        (None, valid_record(effective_time={"seconds": 10**13}), "record.effective_time"),
    ],
)
async def test_bad_record_requests_are_refused_and_change_nothing(
    stub: Stub, parent: str | None, consent: pb.ConsentRecord, field: str
) -> None:
    customer = customer_name()
    request = pb.RecordConsentRequest(parent=customer if parent is None else parent, record=consent)
    await expect_error(stub.RecordConsent(request), INVALID, field=field)

    history = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert list(history.consent_records) == []
    assert (await check(stub, customer)).reason == "NO_RECORD_DEFAULT_DENY"


async def test_effective_time_more_than_five_minutes_ahead_is_refused(
    stub: Stub, clock: FakeClock
) -> None:
    customer = customer_name()
    too_far = clock.now + timedelta(minutes=5, seconds=1)
    request = pb.RecordConsentRequest(
        parent=customer, record=valid_record(effective_time=ts(too_far))
    )
    await expect_error(stub.RecordConsent(request), INVALID, field="record.effective_time")
    history = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert list(history.consent_records) == []


async def test_an_unknown_workspace_is_not_found(stub: Stub) -> None:
    info, _ = await expect_error(
        record(stub, "workspaces/elsewhere/customers/c1", pb.CONSENT_STATE_GRANTED),
        grpc.StatusCode.NOT_FOUND,
    )
    assert info is not None and info.metadata["resource"] == "workspaces/elsewhere"
    await expect_error(check(stub, "workspaces/elsewhere/customers/c1"), grpc.StatusCode.NOT_FOUND)
    await expect_error(
        stub.BatchCheckConsent(pb.BatchCheckConsentRequest(parent="workspaces/elsewhere")),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        stub.ListConsentRecords(
            pb.ListConsentRecordsRequest(parent="workspaces/elsewhere/customers/c1")
        ),
        grpc.StatusCode.NOT_FOUND,
    )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"customer": ""}, "customer"),
        ({"customer": "workspaces/default/customers/"}, "customer"),
        ({"purpose": ""}, "purpose"),
        ({"purpose": "has space"}, "purpose"),
        ({"channel": channel_pb2.CHANNEL_UNSPECIFIED}, "channel"),
        ({"channel": channel_pb2.CHANNEL_INBOUND}, "channel"),
        ({"channel": 99}, "channel"),
        ({"check_time": {"seconds": -(10**12)}}, "check_time"),
    ],
)
async def test_bad_checks_name_the_field(
    stub: Stub, request_fields: dict[str, object], field: str
) -> None:
    fields: dict[str, object] = {
        "customer": "workspaces/default/customers/c1",
        "purpose": "marketing",
        "channel": channel_pb2.CHANNEL_EMAIL,
    }
    fields.update(request_fields)
    await expect_error(stub.CheckConsent(pb.CheckConsentRequest(**fields)), INVALID, field=field)


async def test_a_future_effective_decision_takes_over_at_its_time(
    stub: Stub, clock: FakeClock
) -> None:
    customer = customer_name()
    await record(stub, customer, pb.CONSENT_STATE_GRANTED)
    withdrawn = await record(
        stub, customer, pb.CONSENT_STATE_DENIED, effective_time=clock.now + timedelta(minutes=3)
    )
    assert (await check(stub, customer)).allowed
    assert (await check(stub, customer)).allowed  # now cached
    clock.advance(minutes=3)
    answer = await check(stub, customer)  # the cached answer expired with the new entry
    assert (answer.allowed, answer.record.name) == (False, withdrawn.name)


async def test_checks_right_after_each_write_see_it(stub: Stub, clock: FakeClock) -> None:
    customer = customer_name()
    for i in range(6):
        assert (await check(stub, customer, channel=channel_pb2.CHANNEL_PUSH)).allowed == (
            i % 2 == 1
        )
        clock.advance(seconds=1)
        state = pb.CONSENT_STATE_GRANTED if i % 2 == 0 else pb.CONSENT_STATE_DENIED
        stored = await record(stub, customer, state, channel=channel_pb2.CHANNEL_PUSH)
        answer = await check(stub, customer, channel=channel_pb2.CHANNEL_PUSH)
        assert answer.record.name == stored.name
    # Another channel and purpose of the same customer are independent.
    assert (await check(stub, customer, channel=channel_pb2.CHANNEL_EMAIL)).reason == (
        "NO_RECORD_DEFAULT_DENY"
    )


async def test_batch_answers_in_request_order(stub: Stub, clock: FakeClock) -> None:
    alice, bob = customer_name(), customer_name()
    await record(stub, alice, pb.CONSENT_STATE_GRANTED)
    await record(stub, bob, pb.CONSENT_STATE_DENIED, channel=channel_pb2.CHANNEL_SMS)
    await check(stub, alice)  # one of them cached, the others read from the ledger

    def req(
        customer: str, channel: int = channel_pb2.CHANNEL_EMAIL, **kw: object
    ) -> pb.CheckConsentRequest:
        return pb.CheckConsentRequest(customer=customer, purpose="marketing", channel=channel, **kw)

    requests = [
        req(bob, channel_pb2.CHANNEL_SMS),
        req(alice),
        req(bob),
        req(alice, check_time=ts(clock.now - timedelta(seconds=1))),
        req(alice),
    ]
    response = await stub.BatchCheckConsent(
        pb.BatchCheckConsentRequest(parent="workspaces/default", requests=requests)
    )
    assert [(r.allowed, r.reason) for r in response.responses] == [
        (False, "DENIED"),
        (True, "GRANTED"),
        (False, "NO_RECORD_DEFAULT_DENY"),
        (False, "NO_RECORD_DEFAULT_DENY"),
        (True, "GRANTED"),
    ]
    empty = await stub.BatchCheckConsent(pb.BatchCheckConsentRequest(parent="workspaces/default"))
    assert list(empty.responses) == []


async def test_batch_errors_name_the_check(stub: Stub) -> None:
    good = pb.CheckConsentRequest(
        customer="workspaces/default/customers/c1",
        purpose="marketing",
        channel=channel_pb2.CHANNEL_EMAIL,
    )
    other_workspace = pb.CheckConsentRequest(
        customer="workspaces/brand2/customers/c1",
        purpose="marketing",
        channel=channel_pb2.CHANNEL_EMAIL,
    )
    bad_purpose = pb.CheckConsentRequest(
        customer="workspaces/default/customers/c1", purpose="", channel=channel_pb2.CHANNEL_EMAIL
    )
    no_channel = pb.CheckConsentRequest(customer="workspaces/default/customers/c1", purpose="m")
    inbound = pb.CheckConsentRequest(
        customer="workspaces/default/customers/c1",
        purpose="marketing",
        channel=channel_pb2.CHANNEL_INBOUND,
    )

    async def batch(parent: str, requests: list[pb.CheckConsentRequest]) -> object:
        return await stub.BatchCheckConsent(
            pb.BatchCheckConsentRequest(parent=parent, requests=requests)
        )

    await expect_error(
        batch("workspaces/default", [good, other_workspace]), INVALID, field="requests[1].customer"
    )
    await expect_error(
        batch("workspaces/default", [good, good, bad_purpose]), INVALID, field="requests[2].purpose"
    )
    await expect_error(
        batch("workspaces/default", [no_channel]), INVALID, field="requests[0].channel"
    )
    await expect_error(
        batch("workspaces/default", [good, inbound]), INVALID, field="requests[1].channel"
    )
    await expect_error(batch("default", [good]), INVALID, field="parent")
    await expect_error(batch("workspaces/default", [good] * 1001), INVALID, field="requests")
    full = await batch("workspaces/default", [good] * 1000)
    assert len(full.responses) == 1000  # type: ignore[attr-defined]


async def test_an_unreachable_redis_degrades_to_the_database(
    tmp_path: object, clock: FakeClock
) -> None:
    # Nothing listens on port 1: every Redis call fails fast.
    settings = ConsentSettings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    customer = customer_name()
    async with consent_stub(settings, clock) as stub:
        assert (await check(stub, customer)).reason == "NO_RECORD_DEFAULT_DENY"
        # The cache cannot be fenced before the commit: nothing is recorded, the
        # client retries (an error changes nothing).
        info, _ = await expect_error(
            record(stub, customer, pb.CONSENT_STATE_GRANTED), grpc.StatusCode.UNAVAILABLE
        )
        assert info is not None and info.reason == "CACHE_INVALIDATION_FAILED"
        assert (await check(stub, customer)).reason == "NO_RECORD_DEFAULT_DENY"
        history = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
        assert len(history.consent_records) == 0
