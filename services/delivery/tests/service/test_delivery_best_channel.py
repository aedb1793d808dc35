"""Best channel through the real gRPC server: the customer's preference, consent (one
BatchCheckConsent), reachability, the content (an SMS too long to send is not usable)
and the cost order choose; the message says why."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, assert_refused, delivery, send_request
from .._stand_in import Received, Reply

EMAIL, SMS, PUSH, WEBHOOK, IN_APP, INBOUND = (
    channel_pb2.CHANNEL_EMAIL,
    channel_pb2.CHANNEL_SMS,
    channel_pb2.CHANNEL_PUSH,
    channel_pb2.CHANNEL_WEBHOOK,
    channel_pb2.CHANNEL_IN_APP,
    channel_pb2.CHANNEL_INBOUND,
)
CONTENT = message_content_pb2.MessageContent(
    subject="Hello", text_body="Hi {{ traits.first_name }}"
)
WITHIN = 10.0


def twilio_created(request: Received) -> Reply:
    return Reply(201, {"sid": "SM" + request.headers.get("idempotency-key", "")})


@pytest.fixture
async def sms_settings(make_settings: Any, stand_ins: Any) -> Any:
    sms_api = await stand_ins(default=twilio_created)

    def make(**overrides: Any) -> Any:
        return make_settings(
            sms_providers=[
                {
                    "name": "sms",
                    "base_url": sms_api.url,
                    "account_sid": "AC1",
                    "auth_token": "secret",
                    "from_number": "+15005550006",
                }
            ],
            **overrides,
        )

    make.sms_api = sms_api  # type: ignore[attr-defined]
    return make


def best(
    key: str, customer: str = CUSTOMER, candidate_channels: tuple[int, ...] = (), **overrides: Any
) -> pb.SendMessageRequest:
    request = send_request(key, customer=customer, content=CONTENT, **overrides)
    request.channel = channel_pb2.CHANNEL_UNSPECIFIED
    request.best_channel = True
    request.candidate_channels.extend(candidate_channels)
    return request


async def final(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        return (
            message
            if message.state not in (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENDING)
            else None
        )

    return await eventually(done, timeout=WITHIN)


async def test_preference_consent_and_reachability_choose_and_the_message_says_why(
    sms_settings: Any, smtp: Any, upstreams: Any
) -> None:
    # Ada prefers SMS and may get it; Bob prefers SMS too, but gave no consent for it,
    # has no push token, and did not allow the inbox: email, the next by cost.
    upstreams.profile.traits[CUSTOMER] = {
        "email": "ada@example.com",
        "phone": "+44 7911 123456",
        "preferred_channel": "sms",
        "first_name": "Ada",
    }
    upstreams.consent.grant(CUSTOMER, channel=SMS)
    upstreams.consent.grant(CUSTOMER, channel=EMAIL)
    upstreams.profile.traits[OTHER_CUSTOMER] = {
        "email": "bob@example.com",
        "phone": "+44 7911 123457",
        "preferred_channel": "SMS",
        "first_name": "Bob",
    }
    upstreams.consent.grant(OTHER_CUSTOMER, channel=EMAIL)
    async with delivery(sms_settings()) as stub:
        accepted = await stub.SendMessage(best("ada"))
        assert accepted.channel == channel_pb2.CHANNEL_UNSPECIFIED
        assert list(accepted.channel_selection.candidate_channels) == [EMAIL, SMS, IN_APP]
        assert accepted.channel_selection.reason == ""  # chosen when sent
        ada = await final(stub, accepted.name)
        bob = await final(stub, (await stub.SendMessage(best("bob", OTHER_CUSTOMER))).name)

    assert (ada.state, ada.channel, ada.provider) == (pb.MESSAGE_STATE_SENT, SMS, "sms")
    assert ada.channel_selection.reason == "PREFERRED_CHANNEL"
    assert ada.channel_selection.explanation == "SMS is the customer's preferred channel"
    assert (bob.state, bob.channel, bob.provider) == (pb.MESSAGE_STATE_SENT, EMAIL, "smtp")
    assert bob.channel_selection.reason == "LOWEST_COST"
    assert bob.channel_selection.explanation == (
        "preferred SMS has no consent, IN_APP has no consent; "
        "EMAIL is the lowest-cost usable channel"
    )
    assert [(e.channel, e.status, e.preferred) for e in bob.channel_selection.evaluations] == [
        (SMS, "NO_CONSENT", True),
        (IN_APP, "NO_CONSENT", False),
        (EMAIL, "USABLE", False),
    ]
    assert bob.channel_selection.HasField("select_time")
    # One BatchCheckConsent per message, for the reachable candidates; consent is still
    # checked again right before the provider call.
    assert [len(batch.requests) for batch in upstreams.consent.batches] == [3, 3]
    assert {c.channel for c in upstreams.consent.checks} == {SMS, EMAIL}
    assert len(sms_settings.sms_api.received) == 1 and len(smtp.received) == 1
    # Nothing personal in the explanation.
    assert "bob" not in bob.channel_selection.explanation.lower()


async def test_a_transactional_best_channel_message_needs_no_record_but_not_a_denial(
    sms_settings: Any, smtp: Any, upstreams: Any
) -> None:
    # Both prefer SMS and nothing is recorded for the service purpose: Ada gets it by
    # SMS; Bob denied it on SMS, so he gets email (on which nothing is recorded either).
    for customer in (CUSTOMER, OTHER_CUSTOMER):
        upstreams.profile.traits[customer] = {
            "email": "someone@example.com",
            "phone": "+44 7911 123456",
            "preferred_channel": "sms",
            "first_name": "Ada",
        }
    upstreams.consent.grant(OTHER_CUSTOMER, "transactional", allowed=False, channel=SMS)
    async with delivery(sms_settings()) as stub:
        sms_or_email = (SMS, EMAIL)
        ada = await stub.SendMessage(best("a", CUSTOMER, sms_or_email, purpose="transactional"))
        ada = await final(stub, ada.name)
        bob = await stub.SendMessage(
            best("b", OTHER_CUSTOMER, sms_or_email, purpose="transactional")
        )
        await final(stub, bob.name)
        bob = await stub.GetMessage(pb.GetMessageRequest(name=bob.name, view=pb.MESSAGE_VIEW_FULL))

    assert (ada.state, ada.channel, ada.channel_selection.reason) == (
        pb.MESSAGE_STATE_SENT,
        SMS,
        "PREFERRED_CHANNEL",
    )
    assert (bob.state, bob.channel) == (pb.MESSAGE_STATE_SENT, EMAIL)
    assert bob.channel_selection.explanation.startswith("preferred SMS has no consent")
    assert bob.status_history[-1].reason == "TRANSACTIONAL_NO_CONSENT_RECORD"
    assert len(sms_settings.sms_api.received) == 1 and len(smtp.received) == 1


async def test_the_configured_cost_order_and_the_candidates_decide_without_a_preference(
    sms_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {
        "email": "ada@example.com",
        "phone": "+447911123456",
        "first_name": "Ada",
    }
    for channel in (EMAIL, SMS, IN_APP):
        upstreams.consent.grant(CUSTOMER, channel=channel)
    settings = sms_settings(channel_cost_order=["sms", "email", "in_app"])
    async with delivery(settings) as stub:
        cheapest = await final(stub, (await stub.SendMessage(best("a"))).name)
        limited = await final(
            stub, (await stub.SendMessage(best("b", candidate_channels=[EMAIL, IN_APP]))).name
        )
    assert (cheapest.channel, cheapest.channel_selection.reason) == (SMS, "LOWEST_COST")
    assert list(limited.channel_selection.candidate_channels) == [EMAIL, IN_APP]
    assert (limited.channel, limited.state) == (EMAIL, pb.MESSAGE_STATE_SENT)


async def test_when_no_channel_is_usable_the_message_ends_with_the_reason(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    upstreams.profile.traits[OTHER_CUSTOMER] = {"first_name": "Bob"}
    upstreams.consent.grant(OTHER_CUSTOMER, channel=EMAIL)
    async with delivery(make_settings()) as stub:
        denied = await final(stub, (await stub.SendMessage(best("a"))).name)
        unreachable = await final(
            stub,
            (await stub.SendMessage(best("b", OTHER_CUSTOMER, candidate_channels=[EMAIL]))).name,
        )
    assert (denied.state, denied.failure_reason) == (pb.MESSAGE_STATE_SUPPRESSED, "CONSENT_DENIED")
    assert denied.channel == channel_pb2.CHANNEL_UNSPECIFIED
    assert denied.channel_selection.explanation == (
        "no candidate channel is usable: IN_APP has no consent, EMAIL has no consent"
    )
    assert (unreachable.state, unreachable.failure_reason) == (
        pb.MESSAGE_STATE_FAILED,
        "NO_ADDRESS",
    )
    assert unreachable.failure_detail == "no candidate channel is usable: EMAIL is not reachable"
    assert smtp.received == []


async def test_an_sms_too_long_to_send_is_passed_over_for_the_next_channel(
    sms_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {
        "email": "ada@example.com",
        "phone": "+44 7911 123456",
        "preferred_channel": "sms",
        "first_name": "Ada",
    }
    upstreams.consent.grant(CUSTOMER, channel=SMS)
    upstreams.consent.grant(CUSTOMER, channel=EMAIL)
    # 317 septets rendered, and the opt-out notice: three segments; two are sent.
    long = message_content_pb2.MessageContent(
        subject="Hello", text_body="Hi {{ traits.first_name }} " + "x" * 310
    )
    requests = [best("a", candidate_channels=(SMS, EMAIL)), best("b", candidate_channels=(SMS,))]
    for request in requests:
        request.content.CopyFrom(long)
    async with delivery(sms_settings(max_sms_segments=2)) as stub:
        moved, failed = [
            await final(stub, (await stub.SendMessage(request)).name) for request in requests
        ]
    assert (moved.state, moved.channel, moved.provider) == (pb.MESSAGE_STATE_SENT, EMAIL, "smtp")
    assert moved.channel_selection.reason == "LOWEST_COST"
    assert moved.channel_selection.explanation == (
        "preferred SMS is too long; EMAIL is the lowest-cost usable channel"
    )
    assert [(e.channel, e.status) for e in moved.channel_selection.evaluations] == [
        (SMS, "SMS_TOO_LONG"),
        (EMAIL, "USABLE"),
    ]
    assert (failed.state, failed.failure_reason) == (pb.MESSAGE_STATE_FAILED, "SMS_TOO_LONG")
    assert failed.failure_detail == "no candidate channel is usable: preferred SMS is too long"
    assert sms_settings.sms_api.received == [] and len(smtp.received) == 1


@pytest.mark.parametrize(
    ("overrides", "code", "reason", "field"),
    [
        ({"channel": EMAIL}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "channel"),
        (
            {"candidate_channels": [EMAIL, EMAIL]},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "candidate_channels[1]",
        ),
        (
            {"candidate_channels": [INBOUND]},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "candidate_channels[0]",
        ),
        (
            {"candidate_channels": [0]},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "candidate_channels[0]",
        ),
        (
            {"candidate_channels": [42]},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "candidate_channels[0]",
        ),
        ({"candidate_channels": [SMS]}, "FAILED_PRECONDITION", "CHANNEL_NOT_CONFIGURED", None),
        (
            {"content": message_content_pb2.MessageContent(html_body="<p>only html</p>")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content",
        ),
        (
            {"best_channel": False, "candidate_channels": [EMAIL]},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "candidate_channels",
        ),
        ({"priority": 7}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "priority"),
    ],
)
async def test_bad_best_channel_requests_are_refused_and_change_nothing(
    make_settings: Any, overrides: dict[str, Any], code: str, reason: str, field: str | None
) -> None:
    request = best("k")
    for name, value in overrides.items():
        if name == "candidate_channels":
            request.candidate_channels.extend(value)
        elif name == "content":
            request.content.CopyFrom(value)
        else:
            setattr(request, name, value)
    if not request.best_channel:
        request.channel = EMAIL
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(request)
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert_refused(caught.value, code, reason, field)
    assert list(listed.messages) == []


async def test_a_best_channel_replay_is_the_same_message(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        first = await stub.SendMessage(best("k"))
        again = await stub.SendMessage(best("k"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(best("k", candidate_channels=[EMAIL]))
    assert again == first
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
