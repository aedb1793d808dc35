"""Idempotency keys through the real gRPC server: one message per key while the key is
in force (100 submissions, 50 at once, make one provider call), a new message once it
expired, and expired keys pruned in the background, on a clock the test moves."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from pydantic import ValidationError
from rapport.delivery.adapters.tables import idempotency_keys
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import eventually, status_details
from rapport.sqlstore import create_engine
from sqlalchemy import func, select

from .._delivery_support import CUSTOMER, Clock, delivery, send_request

DAY = 24 * 3600


async def stored_keys(settings: DeliverySettings) -> int:
    engine = create_engine(settings.database_url_or_default())
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(idempotency_keys)))
    finally:
        await engine.dispose()


async def test_one_hundred_submissions_of_one_key_make_one_provider_call(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)
    at_once = asyncio.Semaphore(50)
    async with delivery(make_settings()) as stub:

        async def submit() -> pb.Message:
            async with at_once:
                return await stub.SendMessage(send_request("same"))

        replies = await asyncio.gather(*(submit() for _ in range(100)))
        [name] = {reply.name for reply in replies}

        async def sent() -> bool:
            message = await stub.GetMessage(pb.GetMessageRequest(name=name))
            return message.state == pb.MESSAGE_STATE_SENT

        await eventually(sent, timeout=10)
        await asyncio.sleep(0.3)  # several poll cycles: nothing more goes out
    assert len(smtp.received) == 1


async def test_a_key_makes_a_new_message_once_it_expired(make_settings: Any) -> None:
    clock = Clock()
    settings = make_settings(dispatcher_enabled=False, idempotency_window_seconds=DAY)
    async with delivery(settings, clock=clock) as stub:
        first = await stub.SendMessage(send_request("k"))
        clock.advance(DAY - 1)
        assert await stub.SendMessage(send_request("k")) == first  # still in force
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request("k", purpose="renewals"))
        info, _ = status_details(caught.value)
        assert info is not None and info.reason == "IDEMPOTENCY_KEY_REUSED"

        clock.advance(1)  # a day after the first: expired, even before any pruning
        second = await stub.SendMessage(send_request("k", purpose="renewals"))
        assert second.name != first.name and second.idempotency_key == "k"
        # The key now answers with the new message, for a new window.
        assert await stub.SendMessage(send_request("k", purpose="renewals")) == second
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.SendMessage(send_request("k"))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
        # The first message is still there to read.
        assert await stub.GetMessage(pb.GetMessageRequest(name=first.name)) == first
    assert [m.name for m in listed.messages] == [second.name, first.name]


async def test_expired_keys_are_pruned_in_the_background(make_settings: Any) -> None:
    clock = Clock()
    settings = make_settings(
        dispatcher_enabled=False,
        idempotency_window_seconds=DAY,
        maintenance_interval_seconds=0.05,
    )
    async with delivery(settings, clock=clock) as stub:
        for n in range(3):
            await stub.SendMessage(send_request(f"old-{n}"))
        clock.advance(DAY / 2)
        await stub.SendMessage(send_request("young"))
        await asyncio.sleep(0.2)  # a few maintenance rounds: nothing has expired yet
        assert await stored_keys(settings) == 4
        clock.advance(DAY / 2)  # the first three expire now

        async def pruned() -> bool:
            return await stored_keys(settings) == 1

        await eventually(pruned, timeout=10)
        # The young key still answers; the old ones make new messages.
        young = await stub.SendMessage(send_request("young"))
        again = await stub.SendMessage(send_request("old-0"))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert len(listed.messages) == 5 and young.name in [m.name for m in listed.messages]
    assert again.create_time == listed.messages[0].create_time


def test_the_window_is_at_least_a_day(make_settings: Any) -> None:
    with pytest.raises(ValidationError):
        make_settings(idempotency_window_seconds=DAY - 1)
