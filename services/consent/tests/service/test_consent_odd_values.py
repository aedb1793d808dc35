"""Odd values through the gRPC stub, one class at a time: always INVALID_ARGUMENT naming the
field (never INTERNAL or UNKNOWN), and nothing changes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.pagination import PageTokens

from .._consent_support import (
    FakeClock,
    check,
    check_request,
    customer_name,
    expect_error,
    record,
    valid_record,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
Stub = pb_grpc.ConsentServiceStub
HUGE = "x" * 100_000
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
INT64_MAX = 2**63 - 1

# Timestamps google.protobuf.Timestamp cannot hold.
BAD_TIMESTAMPS = [
    timestamp_pb2.Timestamp(seconds=MAX_SECONDS + 1),
    timestamp_pb2.Timestamp(seconds=MIN_SECONDS - 1),
    timestamp_pb2.Timestamp(seconds=INT64_MAX),
    timestamp_pb2.Timestamp(seconds=-INT64_MAX - 1),
    timestamp_pb2.Timestamp(seconds=0, nanos=-1),
    timestamp_pb2.Timestamp(seconds=0, nanos=1_000_000_000),
    timestamp_pb2.Timestamp(seconds=0, nanos=2**31 - 1),
]
UNKNOWN_ENUM_NUMBERS = [-1, 7, 99, 2**31 - 1, -(2**31)]
ODD_CUSTOMERS = [
    "",
    "workspaces/default/customers/",
    "workspaces/default/customers/a/b",
    "workspaces//customers/c1",
    "workspaces/default/customers/Ç1",
    "workspaces/default/customers/c1\x00",
    f"workspaces/default/customers/{HUGE}",
    f"workspaces/{HUGE}/customers/c1",
    "/workspaces/default/customers/c1",
]


async def record_refused(stub: Stub, consent: pb.ConsentRecord, field: str) -> None:
    customer = customer_name()
    request = pb.RecordConsentRequest(parent=customer, record=consent)
    await expect_error(stub.RecordConsent(request), INVALID, field=field)
    history = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert list(history.consent_records) == []
    assert (await check(stub, customer)).reason == "NO_RECORD_DEFAULT_DENY"


# --- RecordConsent -------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS)
async def test_record_out_of_range_effective_times(
    stub: Stub, stamp: timestamp_pb2.Timestamp
) -> None:
    await record_refused(stub, valid_record(effective_time=stamp), "record.effective_time")


async def test_record_at_the_edges_of_the_timestamp_range(stub: Stub) -> None:
    customer = customer_name()
    oldest = await stub.RecordConsent(
        pb.RecordConsentRequest(
            parent=customer,
            record=valid_record(effective_time=timestamp_pb2.Timestamp(seconds=MIN_SECONDS)),
        )
    )
    assert oldest.effective_time.seconds == MIN_SECONDS
    # The far end is a valid timestamp, but a decision that far ahead is a mistake.
    await record_refused(
        stub,
        valid_record(
            effective_time=timestamp_pb2.Timestamp(seconds=MAX_SECONDS, nanos=999_999_999)
        ),
        "record.effective_time",
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": HUGE}, "record.purpose"),
        ({"source": HUGE}, "record.source"),
        ({"notice_version": HUGE}, "record.notice_version"),
        ({"proof": HUGE}, "record.proof"),
    ],
)
async def test_record_huge_strings(stub: Stub, changes: dict[str, Any], field: str) -> None:
    await record_refused(stub, valid_record(**changes), field)


@pytest.mark.parametrize("field", ["source", "notice_version", "proof"])
async def test_record_nul_characters(stub: Stub, field: str) -> None:
    await record_refused(stub, valid_record(**{field: "web\x00form"}), f"record.{field}")


@pytest.mark.parametrize("number", UNKNOWN_ENUM_NUMBERS)
async def test_record_unknown_enum_numbers(stub: Stub, number: int) -> None:
    await record_refused(stub, valid_record(channel=number), "record.channel")
    await record_refused(stub, valid_record(state=number), "record.state")


@pytest.mark.parametrize("parent", ODD_CUSTOMERS)
async def test_record_odd_parents(stub: Stub, parent: str) -> None:
    request = pb.RecordConsentRequest(parent=parent, record=valid_record())
    await expect_error(stub.RecordConsent(request), INVALID, field="parent")


# --- CheckConsent / BatchCheckConsent ------------------------------------------------------


@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS)
async def test_check_out_of_range_check_times(stub: Stub, stamp: timestamp_pb2.Timestamp) -> None:
    await expect_error(
        stub.CheckConsent(check_request(check_time=stamp)), INVALID, field="check_time"
    )
    batch = pb.BatchCheckConsentRequest(
        parent="workspaces/default", requests=[check_request(), check_request(check_time=stamp)]
    )
    await expect_error(stub.BatchCheckConsent(batch), INVALID, field="requests[1].check_time")


async def test_check_at_the_edges_of_the_timestamp_range(stub: Stub, clock: FakeClock) -> None:
    customer = customer_name()
    await record(stub, customer, pb.CONSENT_STATE_GRANTED)
    first = await stub.CheckConsent(
        check_request(customer=customer, check_time=timestamp_pb2.Timestamp(seconds=MIN_SECONDS))
    )
    last = await stub.CheckConsent(
        check_request(
            customer=customer,
            check_time=timestamp_pb2.Timestamp(seconds=MAX_SECONDS, nanos=999_999_999),
        )
    )
    assert (first.allowed, first.reason) == (False, "NO_RECORD_DEFAULT_DENY")
    assert (last.allowed, last.reason) == (True, "GRANTED")


@pytest.mark.parametrize("number", UNKNOWN_ENUM_NUMBERS)
async def test_check_unknown_channel_numbers(stub: Stub, number: int) -> None:
    await expect_error(stub.CheckConsent(check_request(channel=number)), INVALID, field="channel")
    batch = pb.BatchCheckConsentRequest(
        parent="workspaces/default", requests=[check_request(channel=number)]
    )
    await expect_error(stub.BatchCheckConsent(batch), INVALID, field="requests[0].channel")


@pytest.mark.parametrize("customer", ODD_CUSTOMERS)
async def test_check_odd_customers(stub: Stub, customer: str) -> None:
    await expect_error(
        stub.CheckConsent(check_request(customer=customer)), INVALID, field="customer"
    )


async def test_check_huge_purposes(stub: Stub) -> None:
    await expect_error(stub.CheckConsent(check_request(purpose=HUGE)), INVALID, field="purpose")
    batch = pb.BatchCheckConsentRequest(
        parent="workspaces/default", requests=[check_request(purpose=HUGE)]
    )
    await expect_error(stub.BatchCheckConsent(batch), INVALID, field="requests[0].purpose")


@pytest.mark.parametrize(
    "parent", ["", "workspaces/", "workspaces/default/", f"workspaces/{HUGE}", "workspaces/dé"]
)
async def test_batch_odd_parents(stub: Stub, parent: str) -> None:
    batch = pb.BatchCheckConsentRequest(parent=parent, requests=[check_request()])
    await expect_error(stub.BatchCheckConsent(batch), INVALID, field="parent")


# --- GetConsentRecord ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        f"workspaces/default/customers/c1/consentRecords/{HUGE}",
        "workspaces/default/customers/c1/consentRecords/ré",
        "workspaces/default/customers/c1/consentRecords/r1/",
        "workspaces/default/customers/c1/consentRecords/r1\n",
    ],
)
async def test_get_odd_names(stub: Stub, name: str) -> None:
    await expect_error(
        stub.GetConsentRecord(pb.GetConsentRecordRequest(name=name)), INVALID, field="name"
    )


# --- ListConsentRecords --------------------------------------------------------------------


async def test_list_page_sizes_at_the_int32_limits(stub: Stub) -> None:
    customer = customer_name()
    await record(stub, customer, pb.CONSENT_STATE_GRANTED)
    largest = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, page_size=2**31 - 1)
    )
    assert len(largest.consent_records) == 1 and largest.next_page_token == ""
    await expect_error(
        stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer, page_size=-(2**31))),
        INVALID,
        field="page_size",
    )


async def test_list_odd_page_tokens(stub: Stub, clock: FakeClock) -> None:
    customer = customer_name()
    for _ in range(3):
        clock.advance(seconds=1)
        await record(stub, customer, pb.CONSENT_STATE_GRANTED)
    first = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, page_size=1)
    )
    token = first.next_page_token
    assert token and "before_seq" not in token  # nothing readable in it
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    # A position this codec never wrote: forged with another key, it is refused.
    forged = PageTokens("guessed key").encode({"before_seq": 10**6}, bound_to=f"{customer}||")
    wrong_shape = PageTokens("guessed key").encode({"before_seq": "x"}, bound_to=f"{customer}||")
    for odd in [flipped, token + "A", token[:12], forged, wrong_shape, HUGE, "jéton", "=="]:
        await expect_error(
            stub.ListConsentRecords(
                pb.ListConsentRecordsRequest(parent=customer, page_size=1, page_token=odd)
            ),
            INVALID,
            field="page_token",
        )
    second = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, page_size=1, page_token=token)
    )
    assert [r.name for r in second.consent_records] != [r.name for r in first.consent_records]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": HUGE}, "purpose"),
        ({"channel": -1}, "channel"),
        ({"channel": 2**31 - 1}, "channel"),
        ({"parent": f"workspaces/default/customers/{HUGE}"}, "parent"),
        ({"parent": "workspaces/default/customers/c1/"}, "parent"),
    ],
)
async def test_list_odd_filters(stub: Stub, changes: dict[str, Any], field: str) -> None:
    fields: dict[str, Any] = {"parent": "workspaces/default/customers/c1"}
    fields.update(changes)
    await expect_error(
        stub.ListConsentRecords(pb.ListConsentRecordsRequest(**fields)), INVALID, field=field
    )
