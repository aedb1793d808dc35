"""Provider events before SENT on PostgreSQL: two replicas (a callback reaches the one
that is not sending), and a callback by provider id racing the recording of that id
(they share an advisory lock: the event is either seen by the recording or applied to
the message it recorded, never lost)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from rapport.delivery.adapters.status_repository import StatusRepository
from rapport.delivery.bootstrap import build
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import HeldAfterRead, serve_in_process

from .._delivery_support import CUSTOMER
from .._loop_support import SMS, LoopUpstreams, Running, loop_upstreams, serve, settled, wait_for
from ..conftest import SmtpSink
from ..service.test_delivery_early_provider_events import (
    PHONE,
    held_rows,
    in_flight,
    signed_events,
    sms_settings,
    statuses,
    twilio_created,
    twilio_status,
)


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {"phone": PHONE, "first_name": "Ada"}
        fakes.consent.grant(CUSTOMER, channel=SMS)
        yield fakes


async def test_events_held_on_either_replica_are_applied_in_provider_time_order(
    tmp_path: Path,
    upstreams: LoopUpstreams,
    smtp: SmtpSink,
    stand_ins: Any,
    postgres_url: str,
    pg_schema: str,
) -> None:
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    settings = sms_settings(
        tmp_path, upstreams, smtp, api, database_url=postgres_url, database_schema=pg_schema
    )
    async with (
        serve_in_process(build, settings) as first,
        serve_in_process(build, settings) as second,
        grpc.aio.insecure_channel(first.address) as channel_a,
        grpc.aio.insecure_channel(second.address) as channel_b,
        httpx.AsyncClient(base_url=f"http://{first.http_address}") as http_a,
        httpx.AsyncClient(base_url=f"http://{second.http_address}") as http_b,
    ):
        a = Running(pb_grpc.DeliveryServiceStub(channel_a), http_a)
        b = Running(pb_grpc.DeliveryServiceStub(channel_b), http_b)
        message = await in_flight(a, api, "k-1")
        sid = "SM" + message.name.rsplit("/", 1)[1]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 2))
        delivered = {"type": "delivered", "message": message.name, "timestamp": stamp}
        assert (await signed_events(a, [delivered], "evt_1")).json()["results"] == [
            "NOT_APPLICABLE"
        ]
        read = {"MessageSid": sid, "MessageStatus": "read"}
        assert (await twilio_status(b, read)).status_code == 204
        assert await held_rows(settings) == 2

        api.gate.set()  # type: ignore[union-attr]
        done = await settled(b.stub, message.name)
        assert done.state == pb.MESSAGE_STATE_DELIVERED
        assert statuses(done) == ["QUEUED", "SENT", "DELIVERED", "OPENED"]
        assert done.open_count == 1
        assert await held_rows(settings) == 0
        await wait_for(lambda: len(upstreams.profile.events) == 3)
    assert sorted(e.event for e in upstreams.profile.events.values()) == [
        "SMS Delivered",
        "SMS Opened",
        "SMS Sent",
    ]


async def test_a_callback_racing_the_recording_of_its_provider_id_is_not_lost(
    tmp_path: Path,
    upstreams: LoopUpstreams,
    smtp: SmtpSink,
    stand_ins: Any,
    postgres_url: str,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    settings = sms_settings(
        tmp_path, upstreams, smtp, api, database_url=postgres_url, database_schema=pg_schema
    )
    async with serve(settings) as running:
        message = await in_flight(running, api, "k-1")
        sid = "SM" + message.name.rsplit("/", 1)[1]
        # The callback's look-up finds no message by that id yet, and is held there.
        lookup = HeldAfterRead(monkeypatch, StatusRepository, "find_for_update", hold_empty=True)
        bounce = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30005"}
        callback = asyncio.create_task(twilio_status(running, bounce))
        await asyncio.wait_for(lookup.reached.wait(), 10)
        # Meanwhile the provider answers and the dispatcher records SENT and that id.
        api.gate.set()  # type: ignore[union-attr]
        await asyncio.sleep(1.0)
        lookup.release.set()
        assert (await callback).status_code == 204

        done = await settled(running.stub, message.name)
        assert done.state == pb.MESSAGE_STATE_BOUNCED
        assert statuses(done) == ["QUEUED", "SENT", "BOUNCED"]
        assert await held_rows(settings) == 0
        await wait_for(lambda: upstreams.consent.opt_outs())
    assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", SMS, "bounce")]


async def test_a_callback_whose_provider_id_postgresql_cannot_store_is_answered(
    tmp_path: Path,
    upstreams: LoopUpstreams,
    smtp: SmtpSink,
    stand_ins: Any,
    postgres_url: str,
    pg_schema: str,
) -> None:
    api = await stand_ins(default=twilio_created)
    settings = sms_settings(
        tmp_path, upstreams, smtp, api, database_url=postgres_url, database_schema=pg_schema
    )
    async with (
        serve_in_process(build, settings) as running,
        grpc.aio.insecure_channel(running.address) as channel,
        httpx.AsyncClient(base_url=f"http://{running.http_address}") as http,
    ):
        server = Running(pb_grpc.DeliveryServiceStub(channel), http)
        # On the old code: 500 (PostgreSQL refused the NUL byte in the look-up).
        for sid in ("SM\x00bad", "SM\x1bbad"):
            answer = await twilio_status(server, {"MessageSid": sid, "MessageStatus": "delivered"})
            assert answer.status_code == 204, answer.text
        assert await held_rows(settings) == 0
