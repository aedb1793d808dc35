"""Across replicas: frequency caps hold with two delivery servers sharing PostgreSQL and
with two sharing Redis (each on its own database), and held messages are released
once by replicas sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from rapport.delivery.bootstrap import build
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, serve_in_process
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, Clock, send_request

CONTENT = message_content_pb2.MessageContent(subject="Hi", text_body="Hello")
# One marketing email a week, two marketing messages a week in all.
CAPS = [
    {"purpose": "marketing", "channel": "email", "limit": 1, "window_seconds": 7 * 86400},
    {"purpose": "marketing", "limit": 2, "window_seconds": 7 * 86400},
]
MESSAGES = 24
WITHIN = 20.0


@asynccontextmanager
async def replicas(
    *settings: DeliverySettings, clock: Clock | None = None
) -> AsyncIterator[list[pb_grpc.DeliveryServiceStub]]:
    async with AsyncExitStack() as stack:
        stubs = []
        for each in settings:
            server = await stack.enter_async_context(
                serve_in_process(lambda s: build(s, clock=clock) if clock else build(s), each)
            )
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(server.address))
            stubs.append(pb_grpc.DeliveryServiceStub(channel))
        yield stubs


async def settled(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        pending = (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SCHEDULED, pb.MESSAGE_STATE_SENDING)
        return message if message.state not in pending else None

    return await eventually(done, timeout=WITHIN)


async def race(stubs: list[pb_grpc.DeliveryServiceStub]) -> list[pb.Message]:
    """MESSAGES marketing messages to one customer, at once, half through each replica:
    emails and in-app messages alternating."""
    channels = (channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_IN_APP)
    accepted = await asyncio.gather(
        *(
            stubs[i % 2].SendMessage(
                send_request(f"race-{i}", channel=channels[(i // 2) % 2], content=CONTENT)
            )
            for i in range(MESSAGES)
        )
    )
    return [await settled(stubs[i % 2], m.name) for i, m in enumerate(accepted)]


def assert_caps_held(messages: list[pb.Message], smtp: Any) -> None:
    sent = [m for m in messages if m.state == pb.MESSAGE_STATE_SENT]
    capped = [m for m in messages if m.state == pb.MESSAGE_STATE_CAPPED]
    assert len(sent) == 2 and len(capped) == MESSAGES - 2, [m.state for m in messages]
    assert sum(m.channel == channel_pb2.CHANNEL_EMAIL for m in sent) <= 1
    assert len(smtp.received) == sum(m.channel == channel_pb2.CHANNEL_EMAIL for m in sent)


def reachable(upstreams: Any) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com"}
    for channel in (channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_IN_APP):
        upstreams.consent.grant(CUSTOMER, channel=channel)


async def test_caps_hold_with_two_replicas_sharing_postgres(
    make_settings: Any, smtp: Any, upstreams: Any, postgres_url: str, pg_schema: str
) -> None:
    reachable(upstreams)
    settings = make_settings(
        database_url=postgres_url, database_schema=pg_schema, frequency_caps=CAPS
    )
    async with replicas(settings, settings) as stubs:
        messages = await race(stubs)
    assert_caps_held(messages, smtp)


async def test_caps_hold_with_two_replicas_sharing_redis(
    make_settings: Any, smtp: Any, upstreams: Any, redis_url: str, tmp_path: Path
) -> None:
    # Each replica has a database of its own: only Redis is shared.
    reachable(upstreams)
    prefix = f"test:{uuid.uuid4().hex}:"
    settings = [
        make_settings(
            data_dir=tmp_path / name,
            redis_url=redis_url,
            frequency_caps=CAPS,
            frequency_cap_key_prefix=prefix,
        )
        for name in ("a", "b")
    ]
    async with replicas(*settings) as stubs:
        messages = await race(stubs)
    assert_caps_held(messages, smtp)


async def test_held_messages_are_released_once_by_replicas_sharing_postgres(
    make_settings: Any, smtp: Any, upstreams: Any, postgres_url: str, pg_schema: str
) -> None:
    reachable(upstreams)
    clock = Clock(datetime(2030, 1, 10, 22, 0, tzinfo=UTC))
    settings = make_settings(
        database_url=postgres_url,
        database_schema=pg_schema,
        quiet_hours={"*": {"start": "21:00", "end": "08:00"}},
    )
    async with replicas(settings, settings, clock=clock) as stubs:
        accepted = [
            await stubs[i % 2].SendMessage(send_request(f"night-{i}", content=CONTENT))
            for i in range(6)
        ]

        async def all_held() -> bool:
            states = [
                (await stubs[0].GetMessage(pb.GetMessageRequest(name=m.name))).state
                for m in accepted
            ]
            return states == [pb.MESSAGE_STATE_SCHEDULED] * 6

        await eventually(all_held, timeout=WITHIN)
        assert smtp.received == []
        clock.advance(10 * 3600 + 1)  # 08:00:01
        released = [await settled(stubs[(i + 1) % 2], m.name) for i, m in enumerate(accepted)]
        await asyncio.sleep(0.5)  # several poll cycles of both replicas
    assert [m.state for m in released] == [pb.MESSAGE_STATE_SENT] * 6
    headers = sorted(mail["X-Rapport-Message"] for _, mail in smtp.received)
    assert headers == sorted(m.name for m in accepted)  # each exactly once
