"""The durable queue through the API: dead letters (last error, ListMessages filtered by
state, RetryMessage replays, suppressed after an opt-out), cancel on revoke (the
consent ledger followed), and per-provider limits (a hanging provider never delays
another's messages)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from rapport.consent.bootstrap import build as build_consent
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as consent_pb
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, expect_error, serve_in_process
from rapport.type.v1 import channel_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, delivery, send_request
from .._stand_in import Reply
from .test_delivery_channels import SECRET, final, on, sms, twilio_created

QUEUED, SENT, SUPPRESSED = (
    pb.MESSAGE_STATE_QUEUED,
    pb.MESSAGE_STATE_SENT,
    pb.MESSAGE_STATE_SUPPRESSED,
)
DEAD, CANCELLED = pb.MESSAGE_STATE_DEAD_LETTERED, pb.MESSAGE_STATE_CANCELLED
SMS, WEBHOOK = channel_pb2.CHANNEL_SMS, channel_pb2.CHANNEL_WEBHOOK


@pytest.fixture
def customers(upstreams: Any) -> None:
    for customer in (CUSTOMER, OTHER_CUSTOMER):
        upstreams.profile.traits[customer] = {
            "email": "ada@example.com",
            "phone": "+44 7911 123456",
            "first_name": "Ada",
        }
        for channel in (1, 2, 4):
            upstreams.consent.grant(customer, channel=channel)


async def listed(stub: pb_grpc.DeliveryServiceStub, filter: str, **extra: Any) -> list[str]:
    reply = await stub.ListMessages(
        pb.ListMessagesRequest(parent="workspaces/default", filter=filter, **extra)
    )
    return [m.name for m in reply.messages]


async def until_state(stub: pb_grpc.DeliveryServiceStub, name: str, state: int) -> pb.Message:
    async def reached() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        return message if message.state == state else None

    return await eventually(reached, timeout=10)


async def test_dead_letters_are_listed_by_state_and_replayed(
    make_settings: Any, stand_ins: Any, upstreams: Any, customers: None, smtp: Any
) -> None:
    api = await stand_ins(default=lambda r: Reply(503, {}))  # down: definite, transient
    settings = make_settings(sms_providers=[sms("sms", api.url)], max_attempts=2)
    async with delivery(settings) as stub:
        dead = await final(stub, (await stub.SendMessage(on(SMS, "dead"))).name)
        assert (dead.state, dead.failure_reason, dead.attempt_count) == (
            DEAD,
            "RETRIES_EXHAUSTED",
            2,
        )
        assert dead.last_error.startswith("PROVIDER_")
        fine = await final(stub, (await stub.SendMessage(send_request("fine"))).name)
        assert fine.state == SENT
        assert await listed(stub, "state = DEAD_LETTERED") == [dead.name]
        assert await listed(stub, 'state="MESSAGE_STATE_DEAD_LETTERED"') == [dead.name]
        both = await listed(stub, "state = SENT OR state = DEAD_LETTERED")
        assert sorted(both) == sorted([dead.name, fine.name])
        assert await listed(stub, "state = DEAD_LETTERED", customer=OTHER_CUSTOMER) == []

        # Only a dead letter is replayed.
        await expect_error(
            stub.RetryMessage(pb.RetryMessageRequest(name=fine.name)),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        # The provider is back: the replay goes out, with a fresh set of attempts.
        api.default = twilio_created
        replayed = await stub.RetryMessage(pb.RetryMessageRequest(name=dead.name))
        assert (replayed.state, replayed.attempt_count, replayed.failure_reason) == (QUEUED, 0, "")
        sent = await until_state(stub, dead.name, SENT)
        assert sent.attempt_count == 1
        assert await listed(stub, "state = DEAD_LETTERED") == []
        assert len(api.taken) == 1


async def test_a_replay_after_an_opt_out_is_suppressed(
    make_settings: Any, stand_ins: Any, upstreams: Any, customers: None
) -> None:
    api = await stand_ins(default=lambda r: Reply(503, {}))
    settings = make_settings(sms_providers=[sms("sms", api.url)], max_attempts=1)
    async with delivery(settings) as stub:
        dead = await final(stub, (await stub.SendMessage(on(SMS, "dead"))).name)
        assert dead.state == DEAD
        api.default = twilio_created
        upstreams.consent.grant(CUSTOMER, allowed=False, channel=SMS)
        await stub.RetryMessage(pb.RetryMessageRequest(name=dead.name))
        message = await until_state(stub, dead.name, SUPPRESSED)
    assert message.failure_reason == "CONSENT_DENIED"
    assert api.taken == []


@pytest.mark.parametrize(
    ("filter", "field"),
    [
        ("state = NOPE", "filter"),
        ("customer = x", "filter"),
        ("state = SENT AND state = FAILED", "filter"),
        ("state != SENT", "filter"),
        ("state = " + "A" * 2000, "filter"),
        ("state = SENT\x00", "filter"),
    ],
)
async def test_a_filter_it_cannot_read_is_invalid(
    make_settings: Any, filter: str, field: str
) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await expect_error(
            stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default", filter=filter)),
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )


async def test_retry_message_of_a_missing_or_foreign_message(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await expect_error(
            stub.RetryMessage(pb.RetryMessageRequest(name="workspaces/default/messages/abc")),
            grpc.StatusCode.NOT_FOUND,
        )
        await expect_error(
            stub.RetryMessage(pb.RetryMessageRequest(name="messages/abc")),
            grpc.StatusCode.INVALID_ARGUMENT,
            field="name",
        )


async def test_an_opt_out_cancels_queued_messages_of_that_customer_and_channel(
    make_settings: Any, upstreams: Any, customers: None
) -> None:
    # No dispatcher: the messages stay queued until the opt-out is followed.
    settings = make_settings(dispatcher_enabled=False, consent_follow_retry_seconds=0.05)
    async with delivery(settings) as stub:
        email = (await stub.SendMessage(send_request("email"))).name
        other_purpose = (await stub.SendMessage(send_request("svc", purpose="service"))).name
        other_customer = (await stub.SendMessage(send_request("bob", OTHER_CUSTOMER))).name
        upstreams.consent.record(CUSTOMER, "marketing", allowed=False)
        cancelled = await until_state(stub, email, CANCELLED)
        assert cancelled.failure_reason == "CONSENT_REVOKED"
        # An opt-out that no longer holds (opted in again) cancels nothing.
        upstreams.consent.record(OTHER_CUSTOMER, "marketing", allowed=False)
        upstreams.consent.grant(OTHER_CUSTOMER, "marketing", allowed=True)
        upstreams.consent.record(CUSTOMER, "marketing", allowed=True, channel=SMS)
        await asyncio.sleep(0.3)
        for name in (other_purpose, other_customer):
            assert (await stub.GetMessage(pb.GetMessageRequest(name=name))).state == QUEUED
        assert await listed(stub, "state = CANCELLED") == [email]


async def test_the_follower_resumes_from_its_stored_cursor(
    make_settings: Any, upstreams: Any, customers: None
) -> None:
    settings = make_settings(dispatcher_enabled=False, consent_follow_retry_seconds=0.05)
    upstreams.consent.record(CUSTOMER, "marketing", allowed=False)
    async with delivery(settings) as stub:
        upstreams.consent.grant(CUSTOMER, "marketing", allowed=True)  # opted in again
        await asyncio.sleep(0.3)  # the old opt-out is handled (it cancels nothing)
        first = (await stub.SendMessage(send_request("after-restart"))).name
    async with delivery(settings) as stub:
        await asyncio.sleep(0.3)
        # The ledger is not handled again from the start (the cursor is stored)...
        assert (await stub.GetMessage(pb.GetMessageRequest(name=first))).state == QUEUED
        upstreams.consent.record(CUSTOMER, "marketing", allowed=False)
        # ...and the next opt-out is.
        await until_state(stub, first, CANCELLED)


async def test_a_hanging_provider_never_delays_another_providers_messages(
    make_settings: Any, stand_ins: Any, upstreams: Any, customers: None
) -> None:
    hanging = await stand_ins(default=lambda r: Reply(201, {"sid": "SM1"}, delay=30.0))
    receiver = await stand_ins(default=lambda r: Reply(204))
    settings = make_settings(
        sms_providers=[sms("sms", hanging.url, timeout_seconds=30.0)],
        webhook_endpoints={"default": {"url": receiver.url + "/hook", "secret": SECRET}},
        provider_limits={"sms": {"max_concurrency": 2}},
        dispatch_concurrency=8,
        attempt_timeout_seconds=40.0,
        lease_seconds=60.0,
    )
    async with delivery(settings) as stub:
        # Far more SMS than dispatch slots, all stuck at the provider...
        for i in range(20):
            await stub.SendMessage(on(SMS, f"sms-{i}"))

        async def stuck() -> bool:
            return len(hanging.received) >= 2

        await eventually(stuck, timeout=10)
        # ...and webhooks submitted after them still go out, while every SMS still hangs.
        names = [(await stub.SendMessage(on(WEBHOOK, f"hook-{i}"))).name for i in range(10)]
        sent = [await until_state(stub, name, SENT) for name in names]
        listing = await stub.ListMessages(
            pb.ListMessagesRequest(
                parent="workspaces/default", filter="state = QUEUED OR state = SENDING"
            )
        )
        sending = await stub.ListMessages(
            pb.ListMessagesRequest(parent="workspaces/default", filter="state = SENDING")
        )
    assert {m.provider for m in sent} == {"webhook"}
    assert len(receiver.received) == 10
    assert len(hanging.received) == 2  # never more calls in flight than its limit
    # Not one SMS has finished: the webhooks waited on none of them. The two at the
    # provider are SENDING.
    assert len(listing.messages) == 20
    assert {m.channel for m in listing.messages} == {SMS}
    assert len(sending.messages) == 2


async def test_cancel_on_revoke_with_the_real_consent_service(
    make_settings: Any, upstreams: Any, customers: None, tmp_path: Any
) -> None:
    consent_settings = ConsentSettings(data_dir=tmp_path / "consent", watch_poll_seconds=0.05)
    async with serve_in_process(build_consent, consent_settings) as consent:
        settings = make_settings(
            consent_address=consent.address,
            dispatcher_enabled=False,
            consent_follow_retry_seconds=0.05,
        )
        async with (
            grpc.aio.insecure_channel(consent.address) as channel,
            delivery(settings) as stub,
        ):
            ledger = consent_grpc.ConsentServiceStub(channel)

            async def decide(state: int) -> None:
                await ledger.RecordConsent(
                    consent_pb.RecordConsentRequest(
                        parent=CUSTOMER,
                        record=consent_pb.ConsentRecord(
                            purpose="marketing",
                            channel=channel_pb2.CHANNEL_EMAIL,
                            state=state,  # type: ignore[arg-type]
                            source="web_form",
                        ),
                    )
                )

            await decide(consent_pb.CONSENT_STATE_GRANTED)
            queued = (await stub.SendMessage(send_request("one"))).name
            await decide(consent_pb.CONSENT_STATE_DENIED)
            cancelled = await until_state(stub, queued, CANCELLED)
    assert cancelled.failure_reason == "CONSENT_REVOKED"
