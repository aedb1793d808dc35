"""Helpers of the consent service tests: a controllable clock, an in-process server, calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

import grpc
from google.protobuf import timestamp_pb2
from rapport.consent.bootstrap import build
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.grpctesting import serve_in_process, status_details
from rapport.type.v1 import channel_pb2

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """The service's clock, moved by the test."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def customer_name(workspace: str = "default") -> str:
    return f"workspaces/{workspace}/customers/{uuid.uuid4().hex}"


@asynccontextmanager
async def consent_stub(
    settings: ConsentSettings, clock: FakeClock
) -> AsyncIterator[pb_grpc.ConsentServiceStub]:
    async with serve_in_process(partial(build, clock=clock), settings) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield pb_grpc.ConsentServiceStub(channel)


async def record(
    stub: pb_grpc.ConsentServiceStub,
    customer: str,
    state: int,
    *,
    purpose: str = "marketing",
    channel: int = channel_pb2.CHANNEL_EMAIL,
    effective_time: datetime | None = None,
    source: str = "web_form",
) -> pb.ConsentRecord:
    consent = pb.ConsentRecord(
        purpose=purpose, channel=channel, state=state, source=source, notice_version="v1"
    )
    if effective_time is not None:
        consent.effective_time.CopyFrom(ts(effective_time))
    return await stub.RecordConsent(pb.RecordConsentRequest(parent=customer, record=consent))


async def check(
    stub: pb_grpc.ConsentServiceStub,
    customer: str,
    *,
    purpose: str = "marketing",
    channel: int = channel_pb2.CHANNEL_EMAIL,
    at: datetime | None = None,
) -> pb.CheckConsentResponse:
    request = pb.CheckConsentRequest(customer=customer, purpose=purpose, channel=channel)
    if at is not None:
        request.check_time.CopyFrom(ts(at))
    return await stub.CheckConsent(request)


async def run_core_scenario(stub: pb_grpc.ConsentServiceStub, clock: FakeClock) -> None:
    """Grant, withdraw, reconstruct the past, batch, history: the same on every backend."""
    customer = customer_name()
    assert (await check(stub, customer)).reason == "NO_RECORD_DEFAULT_DENY"

    granted = await record(stub, customer, pb.CONSENT_STATE_GRANTED)
    assert granted.name.startswith(f"{customer}/consentRecords/")
    assert granted.record_time.ToDatetime(tzinfo=UTC) == clock.now
    assert granted.effective_time == granted.record_time
    granted_at = clock.now

    answer = await check(stub, customer)
    assert (answer.allowed, answer.reason, answer.record.name) == (True, "GRANTED", granted.name)
    assert (await check(stub, customer)).allowed  # second answer, from the cache if any

    clock.advance(hours=1)
    denied = await record(stub, customer, pb.CONSENT_STATE_DENIED)
    answer = await check(stub, customer)
    assert (answer.allowed, answer.reason, answer.record.name) == (False, "DENIED", denied.name)

    # The past is reconstructed from the ledger.
    assert (await check(stub, customer, at=granted_at + timedelta(minutes=30))).allowed
    before = await check(stub, customer, at=granted_at - timedelta(seconds=1))
    assert before.reason == "NO_RECORD_DEFAULT_DENY" and not before.HasField("record")

    batch = await stub.BatchCheckConsent(
        pb.BatchCheckConsentRequest(
            parent="workspaces/default",
            requests=[
                pb.CheckConsentRequest(
                    customer=customer, purpose="marketing", channel=channel_pb2.CHANNEL_EMAIL
                ),
                pb.CheckConsentRequest(
                    customer=customer,
                    purpose="marketing",
                    channel=channel_pb2.CHANNEL_EMAIL,
                    check_time=ts(granted_at),
                ),
                pb.CheckConsentRequest(
                    customer=customer, purpose="service", channel=channel_pb2.CHANNEL_SMS
                ),
            ],
        )
    )
    assert [r.reason for r in batch.responses] == ["DENIED", "GRANTED", "NO_RECORD_DEFAULT_DENY"]

    history = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert [r.name for r in history.consent_records] == [denied.name, granted.name]
    assert history.next_page_token == ""


async def expect_error(
    call: object, code: grpc.StatusCode, *, field: str | None = None
) -> grpc.aio.AioRpcError:
    """Await a call that must fail with `code` (and, for InvalidArgument, name `field`)."""
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as err:
        assert err.code() == code, err.details()
        info, bad_request = status_details(err)
        assert info is not None and info.domain == "consent.rapport.dev"
        if field is not None:
            assert info.metadata["field"] == field
            assert bad_request is not None
            assert [v.field for v in bad_request.field_violations] == [field]
        return err
    raise AssertionError(f"expected {code.name}")
