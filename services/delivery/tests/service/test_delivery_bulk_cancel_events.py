"""Bulk cancellations and profile events through the real server: cancel on revoke (the
consent follower) sends one `Email Cancelled` event per cancelled message through the
outbox, attributed with the customer's identifiers even when the message was never
attempted; EraseCustomerMessages' cancellations send none (an erased customer gets no
events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, send_request
from .._loop_support import LoopUpstreams, loop_settings, loop_upstreams, serve, wait_for
from ..conftest import SmtpSink

ADDRESS = "ada@example.com"
OTHER_ADDRESS = "bob@example.com"
CANCELLED = pb.MESSAGE_STATE_CANCELLED


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        for customer, email in ((CUSTOMER, ADDRESS), (OTHER_CUSTOMER, OTHER_ADDRESS)):
            fakes.profile.traits[customer] = {"email": email, "user_id": customer[-6:]}
            fakes.consent.grant(customer)
            fakes.consent.grant(customer, purpose="service")
        yield fakes


async def _until_cancelled(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    async def reached() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name, view=pb.MESSAGE_VIEW_FULL))
        return message if message.state == CANCELLED else None

    return await eventually(reached, timeout=10)


def _settings(tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink) -> DeliverySettings:
    # No dispatcher: messages stay queued (never attempted) until they are cancelled.
    return loop_settings(
        tmp_path,
        upstreams,
        smtp.port,
        dispatcher_enabled=False,
        consent_follow_enabled=True,
        consent_follow_retry_seconds=0.05,
    )


async def test_cancel_on_revoke_sends_a_cancelled_event_per_message(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        stub = running.stub
        names = [(await stub.SendMessage(send_request(f"m-{i}"))).name for i in range(3)]
        kept = (await stub.SendMessage(send_request("svc", purpose="service"))).name
        upstreams.consent.record(CUSTOMER, "marketing", allowed=False)
        for name in names:
            message = await _until_cancelled(stub, name)
            assert message.failure_reason == "CONSENT_REVOKED"
            assert [c.status for c in message.status_history] == ["QUEUED", "CANCELLED"]
        await wait_for(lambda: len(upstreams.profile.named("Email Cancelled")) == 3)
        still = await stub.GetMessage(pb.GetMessageRequest(name=kept))
        assert still.state == pb.MESSAGE_STATE_QUEUED
    events = upstreams.profile.named("Email Cancelled")
    assert sorted(e.properties["message"] for e in events) == sorted(names)
    for event in events:
        assert {(i.type, i.value) for i in event.identifiers} == {
            ("email", ADDRESS),
            ("user_id", CUSTOMER[-6:]),
        }
        assert event.properties["reason"] == "CONSENT_REVOKED"
        assert event.properties["status"] == "CANCELLED"
        assert event.properties["purpose"] == "marketing"
        assert event.properties["channel"] == "EMAIL"
        assert ADDRESS not in str(event.properties)
    # Only those: nothing for the message of another purpose.
    assert len(upstreams.profile.events) == 3


async def test_erased_customers_cancellations_send_no_event(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        stub = running.stub
        erased = (await stub.SendMessage(send_request("ada"))).name
        marker = (await stub.SendMessage(send_request("bob", customer=OTHER_CUSTOMER))).name
        reply = await stub.EraseCustomerMessages(pb.EraseCustomerMessagesRequest(parent=CUSTOMER))
        assert reply.cancelled_message_count == 1
        gone = await stub.GetMessage(pb.GetMessageRequest(name=erased))
        assert (gone.state, gone.failure_reason) == (CANCELLED, "CUSTOMER_ERASED")
        # Another customer's cancellation goes through the same outbox after the erasure:
        # once its event arrived, an event of the erasure would have too.
        upstreams.consent.record(OTHER_CUSTOMER, "marketing", allowed=False)
        await _until_cancelled(stub, marker)
        await wait_for(lambda: len(upstreams.profile.named("Email Cancelled")) == 1)
    [event] = upstreams.profile.events.values()
    assert event.properties["message"] == marker
    assert {(i.type, i.value) for i in event.identifiers} == {
        ("email", OTHER_ADDRESS),
        ("user_id", OTHER_CUSTOMER[-6:]),
    }
