"""The core scenario on PostgreSQL, with two replicas sharing one schema."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from rapport.delivery.bootstrap import build
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, serve_in_process, status_details
from rapport.type.v1 import channel_pb2, message_content_pb2

CUSTOMER = "workspaces/default/customers/c0ffee"


def send_request(key: str, purpose: str = "marketing") -> pb.SendMessageRequest:
    return pb.SendMessageRequest(
        parent="workspaces/default",
        idempotency_key=key,
        customer=CUSTOMER,
        purpose=purpose,
        channel=channel_pb2.CHANNEL_EMAIL,
        content=message_content_pb2.MessageContent(
            subject="Hi {{ traits.first_name }}", text_body="Body"
        ),
    )


async def test_two_replicas_send_each_message_once(
    make_settings: Any,
    smtp: Any,
    upstreams: Any,
    postgres_url: str,
    pg_schema: str,
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)
    settings = make_settings(database_url=postgres_url, database_schema=pg_schema)
    async with (
        serve_in_process(build, settings) as first,
        serve_in_process(build, settings) as second,
        grpc.aio.insecure_channel(first.address) as channel_a,
        grpc.aio.insecure_channel(second.address) as channel_b,
    ):
        stubs = [pb_grpc.DeliveryServiceStub(channel_a), pb_grpc.DeliveryServiceStub(channel_b)]

        # One send -> one mail, whichever replica dispatches it.
        accepted = await stubs[0].SendMessage(send_request("one"))

        async def sent() -> bool:
            message = await stubs[1].GetMessage(pb.GetMessageRequest(name=accepted.name))
            return message.state == pb.MESSAGE_STATE_SENT

        await eventually(sent, timeout=10)

        # Concurrent first submissions of one key through both replicas: one message.
        replies = await asyncio.gather(
            *(stubs[i % 2].SendMessage(send_request("race")) for i in range(20))
        )
        assert len({reply.name for reply in replies}) == 1

        # Several messages at once: both dispatchers compete, each message goes out once.
        batch = await asyncio.gather(
            *(stubs[i % 2].SendMessage(send_request(f"batch-{i}")) for i in range(10))
        )
        await eventually(lambda: len(smtp.received) >= 12, timeout=10)
        await asyncio.sleep(0.5)  # several poll cycles of both replicas

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs[1].SendMessage(send_request("one", purpose="renewals"))
        info, _ = status_details(caught.value)
        assert info is not None and info.reason == "IDEMPOTENCY_KEY_REUSED"

        listed = await stubs[1].ListMessages(
            pb.ListMessagesRequest(parent="workspaces/default", page_size=5)
        )
        assert len(listed.messages) == 5 and listed.next_page_token

    headers = [mail["X-Rapport-Message"] for _, mail in smtp.received]
    expected = {accepted.name, replies[0].name, *(m.name for m in batch)}
    assert sorted(headers) == sorted(expected)  # every message exactly once
