"""Frequency caps through the real gRPC server (counts in the database): per channel and
across channels, transactional messages exempt, CAPPED with the cap named, or held until
the window has room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, Clock, delivery, send_request

EMAIL, IN_APP = channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_IN_APP
SENT, CAPPED = pb.MESSAGE_STATE_SENT, pb.MESSAGE_STATE_CAPPED
WEEK = 7 * 24 * 3600
# At most 1 marketing email a week, 3 marketing messages a week in all.
CAPS = [
    {"purpose": "marketing", "channel": "email", "limit": 1, "window_seconds": WEEK},
    {"purpose": "marketing", "limit": 3, "window_seconds": WEEK},
]
CONTENT = message_content_pb2.MessageContent(
    subject="Hi", text_body="Hello {{ traits.first_name }}"
)
WITHIN = 10.0


@pytest.fixture
def customers(upstreams: Any) -> None:
    for customer, name in ((CUSTOMER, "Ada"), (OTHER_CUSTOMER, "Bob")):
        upstreams.profile.traits[customer] = {"email": f"{name}@example.com", "first_name": name}
        for purpose in ("marketing", "transactional"):
            for channel in (EMAIL, IN_APP):
                upstreams.consent.grant(customer, purpose, channel=channel)


async def settle(stub: pb_grpc.DeliveryServiceStub, request: pb.SendMessageRequest) -> pb.Message:
    name = (await stub.SendMessage(request)).name

    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        pending = (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SCHEDULED, pb.MESSAGE_STATE_SENDING)
        return message if message.state not in pending else None

    return await eventually(done, timeout=WITHIN)


def on(
    channel: int, key: str, customer: str = CUSTOMER, purpose: str = "marketing"
) -> pb.SendMessageRequest:
    return send_request(key, customer=customer, channel=channel, content=CONTENT, purpose=purpose)


async def test_caps_per_channel_and_across_channels(
    make_settings: Any, smtp: Any, customers: None
) -> None:
    async with delivery(make_settings(frequency_caps=CAPS)) as stub:
        first_email = await settle(stub, on(EMAIL, "e1"))
        second_email = await settle(stub, on(EMAIL, "e2"))
        inbox = [await settle(stub, on(IN_APP, f"i{n}")) for n in range(3)]
        receipt = await settle(stub, on(EMAIL, "receipt", purpose="transactional"))
        bob = await settle(stub, on(EMAIL, "bob", customer=OTHER_CUSTOMER))

    assert first_email.state == SENT
    assert (second_email.state, second_email.failure_reason, second_email.failure_detail) == (
        CAPPED,
        "FREQUENCY_CAPPED",
        "at most 1 marketing EMAIL message per 7 days",
    )
    assert [m.state for m in inbox] == [SENT, SENT, CAPPED]
    assert inbox[2].failure_detail == "at most 3 marketing messages per 7 days"
    # Service messages are exempt, and another customer has caps of their own.
    assert receipt.state == SENT and bob.state == SENT
    assert sorted(rcpt for rcpts, _ in smtp.received for rcpt in rcpts) == [
        "Ada@example.com",
        "Ada@example.com",
        "Bob@example.com",
    ]


async def test_a_message_that_does_not_go_out_does_not_count(
    make_settings: Any, smtp: Any, upstreams: Any, customers: None
) -> None:
    upstreams.consent.grant(CUSTOMER, allowed=False)
    async with delivery(make_settings(frequency_caps=CAPS)) as stub:
        suppressed = await settle(stub, on(EMAIL, "e1"))
        upstreams.consent.grant(CUSTOMER)
        sent = await settle(stub, on(EMAIL, "e2"))
    assert suppressed.state == pb.MESSAGE_STATE_SUPPRESSED
    assert sent.state == SENT and len(smtp.received) == 1


async def test_a_deferring_cap_holds_the_message_until_the_window_has_room(
    make_settings: Any, smtp: Any, customers: None
) -> None:
    clock = Clock()
    caps = [{"channel": "email", "limit": 1, "window_seconds": 3600, "on_exceed": "defer"}]
    async with delivery(make_settings(frequency_caps=caps), clock=clock) as stub:
        first = await settle(stub, on(EMAIL, "e1"))
        clock.advance(600)
        second = (await stub.SendMessage(on(EMAIL, "e2"))).name

        async def held() -> pb.Message | None:
            message = await stub.GetMessage(pb.GetMessageRequest(name=second))
            return message if message.state == pb.MESSAGE_STATE_SCHEDULED else None

        waiting = await eventually(held, timeout=WITHIN)
        assert waiting.schedule_reason == "FREQUENCY_CAP"
        assert waiting.scheduled_time.ToDatetime() == (
            first.send_time.ToDatetime() + timedelta(seconds=3600)
        )
        assert waiting.attempt_count == 0  # a hold is not an attempt
        assert len(smtp.received) == 1
        clock.advance(3001)  # the first one leaves the window

        async def sent() -> pb.Message | None:
            message = await stub.GetMessage(pb.GetMessageRequest(name=second))
            return message if message.state == SENT else None

        released = await eventually(sent, timeout=WITHIN)
    assert released.schedule_reason == "FREQUENCY_CAP" and released.attempt_count == 1
    assert len(smtp.received) == 2


async def test_best_channel_passes_over_a_capped_channel(
    make_settings: Any, smtp: Any, upstreams: Any, customers: None
) -> None:
    upstreams.profile.traits[CUSTOMER]["preferred_channel"] = "email"

    def best(key: str) -> pb.SendMessageRequest:
        request = on(channel_pb2.CHANNEL_UNSPECIFIED, key)
        request.best_channel = True
        return request

    async with delivery(make_settings(frequency_caps=CAPS)) as stub:
        first = await settle(stub, best("b1"))
        second = await settle(stub, best("b2"))
    assert (first.channel, first.channel_selection.reason) == (EMAIL, "PREFERRED_CHANNEL")
    assert (second.state, second.channel) == (SENT, IN_APP)
    assert second.channel_selection.explanation == (
        "preferred EMAIL is capped; IN_APP is the lowest-cost usable channel"
    )
    assert [(e.channel, e.status) for e in second.channel_selection.evaluations] == [
        (EMAIL, "CAPPED"),
        (IN_APP, "USABLE"),
    ]
