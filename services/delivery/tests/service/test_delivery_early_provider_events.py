"""Provider callbacks that come before delivery recorded the message SENT (the provider
holds its answer while its callback arrives): nothing a provider reported is lost. The
opt-out a hard bounce leads to is recorded at once; the bounce itself is held (once,
however often the provider retries) and applied when SENT is recorded, in order; the
customer's erasure removes it; it expires after its window; a held event this version
cannot read never stops the dispatcher; and a STOP reply to an SMS whose send was
ambiguous (no SENT recorded) opts the sender out."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from rapport.delivery.adapters.tables import early_provider_events
from rapport.delivery.domain.callback_signatures import (
    standard_webhook_signature,
    twilio_signature,
)
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2, message_content_pb2
from sqlalchemy import func, select

from .._delivery_support import CUSTOMER, Clock, delivery, send_request
from .._loop_support import (
    PUBLIC_BASE_URL,
    SMS,
    LoopUpstreams,
    Running,
    loop_settings,
    loop_upstreams,
    serve,
    settled,
    wait_for,
)
from .._stand_in import Received, Reply, StandIn
from ..conftest import SmtpSink

PHONE = "+14155550123"
AUTH_TOKEN = "twilio-auth-token"
EVENT_KEY = b"k" * 32
EVENT_SECRET = "whsec_" + base64.b64encode(EVENT_KEY).decode()
DAY = 24 * 3600


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {"phone": PHONE, "user_id": "u-42", "first_name": "Ada"}
        fakes.consent.grant(CUSTOMER, channel=SMS)
        yield fakes


def twilio_created(request: Received) -> Reply:
    return Reply(201, {"sid": "SM" + request.headers.get("idempotency-key", "")})


def sms_settings(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, api: StandIn, **overrides: Any
) -> Any:
    sms = {
        "name": "sms",
        "base_url": api.url,
        "account_sid": "AC1",
        "auth_token": AUTH_TOKEN,
        "from_number": "+15005550006",
        # Longer than the test holds the answer: the attempt stays in flight (SENDING).
        "timeout_seconds": 30.0,
    }
    return loop_settings(
        tmp_path,
        upstreams,
        smtp.port,
        sms_providers=[sms],
        provider_event_secrets={"sms": EVENT_SECRET},
        **overrides,
    )


def _sms_request(key: str) -> pb.SendMessageRequest:
    return send_request(
        key,
        channel=channel_pb2.CHANNEL_SMS,
        content=message_content_pb2.MessageContent(text_body="Hi {{ traits.first_name }}"),
    )


async def held_rows(settings: DeliverySettings) -> int:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(early_provider_events))
            return int(count or 0)
    finally:
        await engine.dispose()


async def in_flight(running: Running, api: StandIn, key: str) -> pb.Message:
    """A message the provider has, its answer held: SENDING in delivery."""
    accepted = await running.stub.SendMessage(_sms_request(key))
    await wait_for(lambda: len(api.received) == 1)
    message = await running.stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
    assert message.state == pb.MESSAGE_STATE_SENDING
    return message


async def signed_events(running: Running, events: list[dict[str, Any]], webhook_id: str) -> Any:
    body = json.dumps({"events": events}).encode()
    stamp = str(int(time.time()))
    return await running.http.post(
        "/v1/providers/sms/events",
        content=body,
        headers={
            "webhook-id": webhook_id,
            "webhook-timestamp": stamp,
            "webhook-signature": standard_webhook_signature(EVENT_KEY, webhook_id, stamp, body),
            "content-type": "application/json",
        },
    )


def statuses(message: pb.Message) -> list[str]:
    return [change.status for change in message.status_history]


async def test_a_bounce_before_sent_opts_out_at_once_and_bounces_the_message_once_sent(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    settings = sms_settings(tmp_path, upstreams, smtp, api)
    async with serve(settings) as running:
        message = await in_flight(running, api, "k-1")
        bounce = {"type": "hard_bounce", "message": message.name, "reason": "twilio 30005"}
        first = await signed_events(running, [bounce], "evt_1")
        assert first.status_code == 200 and first.json()["results"] == ["NOT_APPLICABLE"]
        # The provider retries the callback (it did not see our answer): stored once.
        retried = await signed_events(running, [bounce], "evt_2")
        assert retried.status_code == 200
        assert await held_rows(settings) == 1
        # The opt-out does not wait for the message: recorded while it is in flight.
        await wait_for(lambda: upstreams.consent.opt_outs())
        assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", SMS, "bounce")]
        still = await running.stub.GetMessage(pb.GetMessageRequest(name=message.name))
        assert still.state == pb.MESSAGE_STATE_SENDING

        api.gate.set()  # type: ignore[union-attr]
        done = await settled(running.stub, message.name)
        assert (done.state, done.failure_reason, done.failure_detail) == (
            pb.MESSAGE_STATE_BOUNCED,
            "BOUNCED",
            "twilio 30005",
        )
        assert statuses(done) == ["QUEUED", "SENT", "BOUNCED"]
        sent, bounced = done.status_history[1:]
        assert bounced.reporter == "sms"
        assert bounced.change_time.ToDatetime() >= sent.change_time.ToDatetime()
        assert await held_rows(settings) == 0
        await wait_for(lambda: upstreams.profile.named("SMS Bounced"))
    [sent_event] = upstreams.profile.named("SMS Sent")
    [bounced_event] = upstreams.profile.named("SMS Bounced")
    assert bounced_event.properties["reason"] == "twilio 30005"
    assert bounced_event.original_time.ToDatetime() >= sent_event.original_time.ToDatetime()
    # Recorded once: not again when the bounce was applied.
    assert len(upstreams.consent.records) == 1


async def twilio_status(running: Running, params: dict[str, str]) -> Any:
    path = "/v1/providers/sms/twilio/status"
    signature = twilio_signature(AUTH_TOKEN, PUBLIC_BASE_URL + path, params.items())
    return await running.http.post(
        path,
        content=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
    )


async def test_a_status_callback_by_provider_id_before_sent_is_applied_once_sent(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    settings = sms_settings(tmp_path, upstreams, smtp, api)
    async with serve(settings) as running:
        message = await in_flight(running, api, "k-1")
        # The id the provider gave the message, which delivery has not recorded yet.
        sid = "SM" + message.name.rsplit("/", 1)[1]
        callback = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30005"}
        for _ in range(2):
            assert (await twilio_status(running, callback)).status_code == 204
        assert await held_rows(settings) == 1
        # Whose number it is is not known before the message is recorded.
        assert upstreams.consent.records == []

        api.gate.set()  # type: ignore[union-attr]
        done = await settled(running.stub, message.name)
        assert done.state == pb.MESSAGE_STATE_BOUNCED and done.provider_message_id == sid
        assert statuses(done) == ["QUEUED", "SENT", "BOUNCED"]
        assert done.failure_detail == "twilio 30005"
        await wait_for(lambda: upstreams.consent.opt_outs())
        assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", SMS, "bounce")]
        assert await held_rows(settings) == 0


async def test_erasing_the_customer_removes_the_events_held_for_them(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    settings = sms_settings(tmp_path, upstreams, smtp, api)
    async with serve(settings) as running:
        message = await in_flight(running, api, "k-1")
        delivered = {"type": "delivered", "message": message.name}
        assert (await signed_events(running, [delivered], "evt_1")).status_code == 200
        assert await held_rows(settings) == 1

        await running.stub.EraseCustomerMessages(pb.EraseCustomerMessagesRequest(parent=CUSTOMER))
        assert await held_rows(settings) == 0
        api.gate.set()  # type: ignore[union-attr]
        # Cancelled by the erasure: the provider's answer is not recorded, nothing held
        # brings it back.
        done = await settled(running.stub, message.name)
        assert done.state == pb.MESSAGE_STATE_CANCELLED
        assert statuses(done) == ["QUEUED", "CANCELLED"]


async def test_a_held_event_this_version_cannot_read_never_stops_the_dispatcher(
    tmp_path: Path,
    upstreams: LoopUpstreams,
    smtp: SmtpSink,
    stand_ins: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rapport")
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    settings = sms_settings(tmp_path, upstreams, smtp, api)
    async with serve(settings) as running:
        message = await in_flight(running, api, "k-1")
        opened = {"type": "open", "message": message.name}
        assert (await signed_events(running, [opened], "evt_1")).status_code == 200
        message_id = message.name.rsplit("/", 1)[1]
        now = datetime.now(UTC)
        engine = create_engine(settings.database_url_or_default())
        try:
            async with engine.begin() as conn:
                # Written by a newer version (an event this one does not know).
                await conn.execute(
                    early_provider_events.insert(),
                    {
                        "match_key": f"m:{message_id}",
                        "event": "CARRIER_PIGEON_LOST",
                        "workspace": "default",
                        "customer_id": "c0ffee",
                        "event_time": now,
                        "reason": "",
                        "reporter": "sms",
                        "opted_out": 0,
                        "receive_time": now,
                    },
                )
        finally:
            await engine.dispose()
        assert await held_rows(settings) == 2

        api.gate.set()  # type: ignore[union-attr]
        done = await settled(running.stub, message.name)
        assert (done.state, statuses(done)) == (
            pb.MESSAGE_STATE_SENT,
            ["QUEUED", "SENT", "OPENED"],
        )
        assert done.open_count == 1
        assert await held_rows(settings) == 0
        # The dispatcher goes on.
        after = await running.stub.SendMessage(_sms_request("k-2"))
        assert (await settled(running.stub, after.name)).state == pb.MESSAGE_STATE_SENT
    assert "unreadable held provider event dropped" in caplog.text


async def test_events_for_provider_ids_no_message_takes_expire_after_the_window(
    make_settings: Any,
) -> None:
    clock = Clock()
    settings = make_settings(
        dispatcher_enabled=False,
        early_provider_event_window_seconds=DAY,
        maintenance_interval_seconds=0.05,
    )
    async with delivery(settings, clock=clock) as stub:
        for n in range(3):
            answer = await stub.ReportProviderEvent(
                pb.ReportProviderEventRequest(
                    parent="workspaces/default",
                    provider="smtp",
                    provider_message_id=f"<{n}@nowhere>",
                    type=pb.PROVIDER_EVENT_TYPE_DELIVERED,
                )
            )
            # Answered as before: no message known by that id.
            assert answer.outcome == pb.PROVIDER_EVENT_OUTCOME_UNKNOWN_MESSAGE
        await asyncio.sleep(0.2)  # a few maintenance rounds: nothing has expired yet
        assert await held_rows(settings) == 3
        clock.advance(DAY + 1)

        async def pruned() -> bool:
            return await held_rows(settings) == 0

        await eventually(pruned, timeout=10)


async def test_a_stop_reply_while_an_ambiguous_send_is_retried_opts_out(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=twilio_created, gate=asyncio.Event())
    sms = {
        "name": "sms",
        "base_url": api.url,
        "account_sid": "AC1",
        "auth_token": AUTH_TOKEN,
        "from_number": "+15005550006",
        # The provider has the message but does not answer in time: ambiguous.
        "timeout_seconds": 0.3,
    }
    settings = loop_settings(tmp_path, upstreams, smtp.port, sms_providers=[sms])
    async with serve(settings) as running:
        accepted = await running.stub.SendMessage(_sms_request("k-1"))

        async def retried() -> bool:
            message = await running.stub.GetMessage(
                pb.GetMessageRequest(name=accepted.name, view=pb.MESSAGE_VIEW_FULL)
            )
            return len(message.status_history) >= 2 and not message.provider

        await wait_for(retried)
        # The customer got it and answers STOP before any SENT is recorded.
        path = "/v1/providers/sms/twilio/inbound"
        params = {"From": PHONE, "To": "+15005550006", "Body": "STOP", "MessageSid": "SMin1"}
        signature = twilio_signature(AUTH_TOKEN, PUBLIC_BASE_URL + path, params.items())
        answer = await running.http.post(
            path,
            content=urlencode(params),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": signature,
            },
        )
        assert answer.status_code == 200
        # Its purpose, and every transactional one (a STOP ends all SMS).
        assert upstreams.consent.opt_outs() == [
            (CUSTOMER, "marketing", SMS, "unsubscribe"),
            (CUSTOMER, "transactional", SMS, "unsubscribe"),
        ]
        api.gate.set()  # type: ignore[union-attr]
