"""Ledger entries this version cannot read (a channel or state written by a newer version),
slipped into the database directly: they never make a read fail for the whole customer.

The behaviour (domain.model.ConsentEntry and decide):
- listed and got with CHANNEL_UNSPECIFIED / CONSENT_STATE_UNSPECIFIED, with a warning;
- an unknown channel is never the channel a check asks about: checks ignore it;
- an unknown state in force answers checks with the opt-in default (not allowed, reason
  UNREADABLE_RECORD_DEFAULT_DENY, naming the entry) instead of letting an older
  readable grant answer for a decision that may have withdrawn it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import pytest
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.type.v1 import channel_pb2

from .._consent_support import (
    FakeClock,
    batch_check,
    check,
    check_request,
    customer_name,
    record,
    write_ledger_row,
)

Stub = pb_grpc.ConsentServiceStub


@dataclass
class Scene:
    """The server, its clock, a customer's grant recorded through it, the warnings logged."""

    stub: Stub
    clock: FakeClock
    settings: ConsentSettings
    granted: pb.ConsentRecord
    warnings: pytest.LogCaptureFixture

    async def write_newer(self, **values: str) -> str:
        """A ledger row of this customer, now, as a newer version might write it."""
        return await write_ledger_row(
            self.settings.database_url_or_default(),
            self.granted.customer,
            self.clock.now,
            source="newer_version",
            **values,
        )


@pytest.fixture
async def scene(
    stub: Stub, clock: FakeClock, sqlite_settings: ConsentSettings, caplog: pytest.LogCaptureFixture
) -> Scene:
    caplog.set_level(logging.WARNING, logger="rapport")
    granted = await record(stub, customer_name(), pb.CONSENT_STATE_GRANTED)
    return Scene(stub, clock, sqlite_settings, granted, caplog)


async def test_an_unknown_channel_is_listed_and_ignored_by_checks(scene: Scene) -> None:
    stub, clock, granted = scene.stub, scene.clock, scene.granted
    customer = granted.customer
    clock.advance(seconds=1)
    pigeon = await scene.write_newer(channel="carrier_pigeon", state="denied")
    clock.advance(seconds=1)

    answer = await check(stub, customer)
    assert (answer.allowed, answer.reason, answer.record.name) == (True, "GRANTED", granted.name)
    batch = await batch_check(
        stub,
        check_request(customer),
        check_request(customer, channel=channel_pb2.CHANNEL_SMS, at=clock.now),
    )
    assert [r.reason for r in batch] == ["GRANTED", "NO_RECORD_DEFAULT_DENY"]

    listed = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=customer))
    assert [r.name for r in listed.consent_records] == [pigeon, granted.name]
    unknown = listed.consent_records[0]
    assert (unknown.channel, unknown.state, unknown.source) == (
        channel_pb2.CHANNEL_UNSPECIFIED,
        pb.CONSENT_STATE_DENIED,
        "newer_version",
    )
    assert await stub.GetConsentRecord(pb.GetConsentRecordRequest(name=pigeon)) == unknown
    # Filtering by a known channel leaves it out.
    emails = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, channel=channel_pb2.CHANNEL_EMAIL)
    )
    assert [r.name for r in emails.consent_records] == [granted.name]
    warned = [
        r for r in scene.warnings.records if getattr(r, "error_reason", "") == "UNKNOWN_CHANNEL"
    ]
    assert warned and all(r.resource == pigeon.rsplit("/", 1)[1] for r in warned)
    assert "carrier_pigeon" not in "\n".join(f"{r.getMessage()} {r.__dict__}" for r in warned)


async def test_an_unknown_state_in_force_answers_with_the_default(scene: Scene) -> None:
    stub, clock, granted = scene.stub, scene.clock, scene.granted
    customer, granted_at = granted.customer, clock.now
    assert (await check(stub, customer)).allowed  # cached now
    clock.advance(minutes=1)
    withdrawn_somehow = await scene.write_newer(state="withdrawn_for_profiling")
    clock.advance(minutes=1)
    # A write through the service moves the cache on (another purpose of the customer).
    await record(stub, customer, pb.CONSENT_STATE_GRANTED, purpose="service")

    for _ in range(2):  # from the ledger, then from the cache
        answer = await check(stub, customer)
        assert (answer.allowed, answer.state, answer.reason) == (
            False,
            pb.CONSENT_STATE_DENIED,
            "UNREADABLE_RECORD_DEFAULT_DENY",
        )
        assert answer.record.name == withdrawn_somehow
        assert answer.record.state == pb.CONSENT_STATE_UNSPECIFIED
    # The past is still reconstructed: before that entry, the grant was in force.
    before = await check(stub, customer, at=granted_at + timedelta(seconds=30))
    assert (before.allowed, before.record.name) == (True, granted.name)
    after = await check(stub, customer, at=clock.now)
    assert after.reason == "UNREADABLE_RECORD_DEFAULT_DENY"
    batch = await batch_check(
        stub, check_request(customer), check_request(customer, purpose="service")
    )
    assert [(r.allowed, r.reason) for r in batch] == [
        (False, "UNREADABLE_RECORD_DEFAULT_DENY"),
        (True, "GRANTED"),
    ]

    # A readable decision recorded later is in force again.
    clock.advance(seconds=1)
    again = await record(stub, customer, pb.CONSENT_STATE_GRANTED)
    answer = await check(stub, customer)
    assert (answer.allowed, answer.record.name) == (True, again.name)

    listed = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(parent=customer, purpose="marketing", page_size=1)
    )
    rest = await stub.ListConsentRecords(
        pb.ListConsentRecordsRequest(
            parent=customer, purpose="marketing", page_token=listed.next_page_token
        )
    )
    assert [r.name for r in [*listed.consent_records, *rest.consent_records]] == [
        again.name,
        withdrawn_somehow,
        granted.name,
    ]
    assert rest.consent_records[0].state == pb.CONSENT_STATE_UNSPECIFIED
    assert any(getattr(r, "error_reason", "") == "UNKNOWN_STATE" for r in scene.warnings.records)
