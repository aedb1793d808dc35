"""Helpers of the consent service tests: a controllable clock, an in-process server, calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf import timestamp_pb2
from rapport import grpctesting
from rapport.consent.adapters.tables import consent_ledger
from rapport.consent.bootstrap import build
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.grpctesting import serve_in_process
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2
from rapport.wellknowntypes import to_timestamp

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
    return to_timestamp(value)


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


def valid_record(**changes: Any) -> pb.ConsentRecord:
    """A record RecordConsent accepts, but for `changes`."""
    fields: dict[str, Any] = {
        "purpose": "marketing",
        "channel": channel_pb2.CHANNEL_EMAIL,
        "state": pb.CONSENT_STATE_GRANTED,
        "source": "web_form",
    }
    fields.update(changes)
    return pb.ConsentRecord(**fields)


def check_request(
    customer: str = "workspaces/default/customers/c1",
    *,
    purpose: str = "marketing",
    channel: int = channel_pb2.CHANNEL_EMAIL,
    at: datetime | None = None,
    **fields: Any,
) -> pb.CheckConsentRequest:
    request = pb.CheckConsentRequest(customer=customer, purpose=purpose, channel=channel, **fields)
    if at is not None:
        request.check_time.CopyFrom(ts(at))
    return request


async def check(
    stub: pb_grpc.ConsentServiceStub,
    customer: str,
    *,
    purpose: str = "marketing",
    channel: int = channel_pb2.CHANNEL_EMAIL,
    at: datetime | None = None,
) -> pb.CheckConsentResponse:
    return await stub.CheckConsent(check_request(customer, purpose=purpose, channel=channel, at=at))


async def batch_check(
    stub: pb_grpc.ConsentServiceStub, *requests: pb.CheckConsentRequest
) -> list[pb.CheckConsentResponse]:
    """BatchCheckConsent in workspaces/default."""
    response = await stub.BatchCheckConsent(
        pb.BatchCheckConsentRequest(parent="workspaces/default", requests=requests)
    )
    return list(response.responses)


async def write_ledger_row(
    database_url: str,
    customer: str,
    at: datetime,
    *,
    schema: str | None = None,
    channel: str = "email",
    state: str = "granted",
    purpose: str = "marketing",
    source: str = "test",
) -> str:
    """A ledger row written straight into the database, behind the service's back (no cache
    invalidation; values this version may not know); returns its resource name."""
    entry_id = uuid.uuid4().hex
    engine = create_engine(database_url, schema=schema)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(consent_ledger).values(
                    id=entry_id,
                    workspace="default",
                    customer_id=customer.rsplit("/", 1)[1],
                    purpose=purpose,
                    channel=channel,
                    state=state,
                    source=source,
                    notice_version="",
                    proof="",
                    effective_time=at,
                    record_time=at,
                )
            )
    finally:
        await engine.dispose()
    return f"{customer}/consentRecords/{entry_id}"


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

    batch = await batch_check(
        stub,
        check_request(customer),
        check_request(customer, at=granted_at),
        check_request(customer, purpose="service", channel=channel_pb2.CHANNEL_SMS),
    )
    assert [r.reason for r in batch] == ["DENIED", "GRANTED", "NO_RECORD_DEFAULT_DENY"]

    history = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert [r.name for r in history.consent_records] == [denied.name, granted.name]
    assert history.next_page_token == ""


DOMAIN = "consent.rapport.dev"
# Every error of this service carries one ErrorInfo in its domain.
expect_error = partial(grpctesting.expect_error, domain=DOMAIN)
