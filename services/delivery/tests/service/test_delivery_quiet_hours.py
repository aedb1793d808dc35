"""Quiet hours through the real gRPC server, on a clock the test moves: held in the
customer's own time zone (SCHEDULED until the window ends), released by the
dispatcher, across a restart too; critical messages go at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, Clock, delivery, send_request

# 21:00 to 08:00 in the workspace's zone (Paris) unless the customer has one.
QUIET = {"*": {"start": "21:00", "end": "08:00", "time_zone": "Europe/Paris"}}
CONTENT = message_content_pb2.MessageContent(subject="Hi", text_body="Hello")
WITHIN = 10.0


def customers(upstreams: Any) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com"}  # Paris, by default
    upstreams.profile.traits[OTHER_CUSTOMER] = {
        "email": "kenji@example.com",
        "timezone": "Asia/Tokyo",
    }
    for customer in (CUSTOMER, OTHER_CUSTOMER):
        for channel in (channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_IN_APP):
            upstreams.consent.grant(customer, channel=channel)


async def in_state(stub: pb_grpc.DeliveryServiceStub, name: str, state: int) -> pb.Message:
    async def reached() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        return message if message.state == state else None

    return await eventually(reached, timeout=WITHIN)


async def test_held_in_the_customers_night_and_released_in_the_morning(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    customers(upstreams)
    # 22:30 in Paris, 06:30 the next day in Tokyo: night for both.
    clock = Clock(datetime(2030, 1, 10, 21, 30, tzinfo=UTC))
    async with delivery(make_settings(quiet_hours=QUIET), clock=clock) as stub:
        paris = await stub.SendMessage(send_request("paris", content=CONTENT))
        tokyo = await stub.SendMessage(
            send_request("tokyo", customer=OTHER_CUSTOMER, content=CONTENT)
        )
        critical = await stub.SendMessage(
            send_request("otp", content=CONTENT, priority=pb.MESSAGE_PRIORITY_CRITICAL)
        )
        inbox = await stub.SendMessage(
            send_request("inbox", content=CONTENT, channel=channel_pb2.CHANNEL_IN_APP)
        )
        held_paris = await in_state(stub, paris.name, pb.MESSAGE_STATE_SCHEDULED)
        held_tokyo = await in_state(stub, tokyo.name, pb.MESSAGE_STATE_SCHEDULED)
        sent_critical = await in_state(stub, critical.name, pb.MESSAGE_STATE_SENT)
        # The inbox waits for nobody: not a quiet-hours channel by default.
        await in_state(stub, inbox.name, pb.MESSAGE_STATE_SENT)

        assert held_paris.schedule_reason == "QUIET_HOURS"
        # 08:00 local: 07:00 UTC in Paris (winter), 23:00 UTC the day before in Tokyo.
        assert held_paris.scheduled_time.ToDatetime(UTC) == datetime(2030, 1, 11, 7, tzinfo=UTC)
        assert held_tokyo.scheduled_time.ToDatetime(UTC) == datetime(2030, 1, 10, 23, tzinfo=UTC)
        assert held_paris.attempt_count == 0
        assert sent_critical.priority == pb.MESSAGE_PRIORITY_CRITICAL
        assert [mail["X-Rapport-Message"] for _, mail in smtp.received] == [critical.name]

        clock.now = datetime(2030, 1, 10, 23, 0, 1, tzinfo=UTC)  # morning in Tokyo only
        await in_state(stub, tokyo.name, pb.MESSAGE_STATE_SENT)
        still = await stub.GetMessage(pb.GetMessageRequest(name=paris.name))
        assert still.state == pb.MESSAGE_STATE_SCHEDULED
        clock.now = datetime(2030, 1, 11, 7, 0, 1, tzinfo=UTC)
        released = await in_state(stub, paris.name, pb.MESSAGE_STATE_SENT)
    assert released.schedule_reason == "QUIET_HOURS" and released.attempt_count == 1
    assert released.scheduled_time == held_paris.scheduled_time  # when it was released
    assert len(smtp.received) == 3


async def test_a_hold_survives_a_restart(make_settings: Any, smtp: Any, upstreams: Any) -> None:
    customers(upstreams)
    settings = make_settings(quiet_hours=QUIET)
    clock = Clock(datetime(2030, 1, 10, 21, 30, tzinfo=UTC))
    async with delivery(settings, clock=clock) as stub:
        accepted = await stub.SendMessage(send_request("paris", content=CONTENT))
        await in_state(stub, accepted.name, pb.MESSAGE_STATE_SCHEDULED)
    # Another process, the next morning: the stored hold is released once.
    morning = Clock(datetime(2030, 1, 11, 7, 0, 1, tzinfo=UTC))
    async with delivery(settings, clock=morning) as stub:
        await in_state(stub, accepted.name, pb.MESSAGE_STATE_SENT)
    [(_, mail)] = smtp.received
    assert mail["X-Rapport-Message"] == accepted.name
