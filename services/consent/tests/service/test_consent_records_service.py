"""Consent records through the real gRPC server: Get, List (pages, filters), and scopes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from rapport.consent.bootstrap import METHOD_SCOPES, SERVICE_NAME
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.type.v1 import channel_pb2

from .._consent_support import (
    FakeClock,
    consent_stub,
    customer_name,
    expect_error,
    record,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
Stub = pb_grpc.ConsentServiceStub


def _get(stub: Stub, name: str) -> object:
    return stub.GetConsentRecord(pb.GetConsentRecordRequest(name=name))


async def test_get_returns_the_recorded_entry(stub: Stub, clock: FakeClock) -> None:
    customer = customer_name()
    older = await record(stub, customer, pb.CONSENT_STATE_GRANTED, channel=channel_pb2.CHANNEL_SMS)
    clock.advance(seconds=1)
    newer = await record(
        stub, customer, pb.CONSENT_STATE_DENIED, effective_time=clock.now - timedelta(days=1)
    )
    assert await _get(stub, older.name) == older
    assert await _get(stub, newer.name) == newer


async def test_get_of_an_unknown_record_is_not_found(stub: Stub) -> None:
    customer = customer_name()
    await record(stub, customer, pb.CONSENT_STATE_GRANTED)  # the customer has other entries
    name = f"{customer}/consentRecords/{uuid.uuid4().hex}"
    info, _ = await expect_error(_get(stub, name), NOT_FOUND)
    assert info is not None and info.metadata["resource"] == name


async def test_get_under_another_customer_is_not_found(stub: Stub) -> None:
    alice, bob = customer_name(), customer_name()
    stored = await record(stub, alice, pb.CONSENT_STATE_GRANTED)
    record_id = stored.name.rsplit("/", 1)[1]
    alice_id = alice.rsplit("/", 1)[1]
    for wrong in (
        f"{bob}/consentRecords/{record_id}",
        f"workspaces/brand2/customers/{alice_id}/consentRecords/{record_id}",
    ):
        info, _ = await expect_error(_get(stub, wrong), NOT_FOUND)
        assert info is not None and info.metadata["resource"] == wrong


async def test_get_in_an_unknown_workspace_is_not_found(stub: Stub) -> None:
    info, _ = await expect_error(
        _get(stub, "workspaces/elsewhere/customers/c1/consentRecords/r1"), NOT_FOUND
    )
    assert info is not None and info.metadata["resource"] == "workspaces/elsewhere"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "r1",
        "workspaces/default/customers/c1",
        "workspaces/default/customers/c1/consentRecords/",
        "workspaces/default/customers/c1/consentRecords/R1",
        "workspaces/default/customers/c1/consentRecords/r1/more",
        "workspaces/default/customers/c1/records/r1",
        "workspaces/default/consentRecords/r1",
    ],
)
async def test_a_malformed_record_name_is_invalid(stub: Stub, name: str) -> None:
    await expect_error(_get(stub, name), INVALID, field="name")


async def test_records_page_newest_first_with_filters(stub: Stub, clock: FakeClock) -> None:
    customer = customer_name()
    names = []
    for i in range(7):
        clock.advance(seconds=1)
        channel = channel_pb2.CHANNEL_EMAIL if i % 2 == 0 else channel_pb2.CHANNEL_SMS
        # Effective times out of order: history follows the ledger, not the decisions.
        decided = clock.now - timedelta(hours=i % 3)
        names.append(
            (
                await record(
                    stub,
                    customer,
                    pb.CONSENT_STATE_GRANTED,
                    channel=channel,
                    effective_time=decided,
                )
            ).name
        )
    await record(stub, customer, pb.CONSENT_STATE_DENIED, purpose="service")

    seen, token, pages = [], "", 0
    while True:
        page = await stub.ListConsentRecords(
            pb.ListConsentRecordsRequest(
                parent=customer, purpose="marketing", page_size=3, page_token=token
            )
        )
        pages += 1
        assert len(page.consent_records) <= 3
        seen += [r.name for r in page.consent_records]
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == names[::-1]

    sms = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, channel=channel_pb2.CHANNEL_SMS)
    )
    assert [r.name for r in sms.consent_records] == names[1::2][::-1]
    everything = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert (
        len(everything.consent_records) == 8 and everything.consent_records[0].purpose == "service"
    )

    first = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, purpose="marketing", page_size=3)
    )
    # A token only works for the request that made it.
    await expect_error(
        stub.ListConsentRecords(
            pb.ListConsentRecordsRequest(
                parent=customer, purpose="service", page_token=first.next_page_token
            )
        ),
        INVALID,
        field="page_token",
    )
    await expect_error(
        stub.ListConsentRecords(
            pb.ListConsentRecordsRequest(
                parent=customer_name(), purpose="marketing", page_token=first.next_page_token
            )
        ),
        INVALID,
        field="page_token",
    )
    await expect_error(
        stub.ListConsentRecords(
            pb.ListConsentRecordsRequest(parent=customer, page_token="garbage")
        ),
        INVALID,
        field="page_token",
    )
    await expect_error(
        stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer, page_size=-1)),
        INVALID,
        field="page_size",
    )
    await expect_error(
        stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer, purpose="Bad")),
        INVALID,
        field="purpose",
    )
    await expect_error(
        stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer, channel=77)),
        INVALID,
        field="channel",
    )
    await expect_error(
        stub.ListConsentRecords(
            pb.ListConsentRecordsRequest(parent=customer, channel=channel_pb2.CHANNEL_INBOUND)
        ),
        INVALID,
        field="channel",
    )
    await expect_error(
        stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent="workspaces/default")),
        INVALID,
        field="parent",
    )


def test_every_rpc_of_the_contract_has_a_scope() -> None:
    service = pb.DESCRIPTOR.services_by_name["ConsentService"]
    assert set(METHOD_SCOPES) == {f"/{SERVICE_NAME}/{m.name}" for m in service.methods}
    special = {
        f"/{SERVICE_NAME}/RecordConsent": "consent.write",
        f"/{SERVICE_NAME}/WatchConsentRecords": "consent.watch",
        # Exports hold personal data from every service: not plain consent.read.
        f"/{SERVICE_NAME}/CreateDataSubjectRequest": "consent.subject_requests.write",
        f"/{SERVICE_NAME}/GetDataSubjectRequest": "consent.subject_requests.read",
        f"/{SERVICE_NAME}/ListDataSubjectRequests": "consent.subject_requests.read",
    }
    for method, scope in METHOD_SCOPES.items():
        assert scope == special.get(method, "consent.read"), method


async def test_scopes_guard_writes_and_reads(tmp_path: object, clock: FakeClock) -> None:
    settings = ConsentSettings(
        data_dir=tmp_path, auth_tokens={"reader": ["consent.read"], "writer": ["consent.write"]}
    )
    customer = customer_name()
    request = pb.RecordConsentRequest(
        parent=customer,
        record=pb.ConsentRecord(
            purpose="marketing",
            channel=channel_pb2.CHANNEL_EMAIL,
            state=pb.CONSENT_STATE_GRANTED,
            source="web_form",
        ),
    )
    reader = (("authorization", "Bearer reader"),)
    writer = (("authorization", "Bearer writer"),)
    async with consent_stub(settings, clock) as stub:
        await expect_error(
            stub.RecordConsent(request, metadata=reader), grpc.StatusCode.PERMISSION_DENIED
        )
        stored = await stub.RecordConsent(request, metadata=writer)
        check_request = pb.CheckConsentRequest(
            customer=customer, purpose="marketing", channel=channel_pb2.CHANNEL_EMAIL
        )
        assert (await stub.CheckConsent(check_request, metadata=reader)).allowed
        await expect_error(
            stub.CheckConsent(check_request, metadata=writer), grpc.StatusCode.PERMISSION_DENIED
        )
        # The other reads need consent.read too.
        get = pb.GetConsentRecordRequest(name=stored.name)
        assert await stub.GetConsentRecord(get, metadata=reader) == stored
        listing = pb.ListConsentRecordsRequest(parent=customer)
        listed = await stub.ListConsentRecords(listing, metadata=reader)
        assert list(listed.consent_records) == [stored]
        batch = pb.BatchCheckConsentRequest(parent="workspaces/default", requests=[check_request])
        assert (await stub.BatchCheckConsent(batch, metadata=reader)).responses[0].allowed
        denied = grpc.StatusCode.PERMISSION_DENIED
        await expect_error(stub.GetConsentRecord(get, metadata=writer), denied)
        await expect_error(stub.ListConsentRecords(listing, metadata=writer), denied)
        await expect_error(stub.BatchCheckConsent(batch, metadata=writer), denied)
