"""The closed loop through the real server: provider events (ReportProviderEvent, Twilio
status callbacks, signed event callbacks) move messages on and into their status
history, each change reaches profile as an event through the outbox (also after profile
was down), hard bounces and complaints become opt-outs, and STOP replies opt out."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import grpc
import pytest
from google.protobuf import timestamp_pb2
from rapport.delivery.domain.callback_signatures import (
    standard_webhook_signature,
    twilio_signature,
)
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, send_request
from .._loop_support import (
    EMAIL,
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
from .._stand_in import Received, Reply
from ..conftest import SmtpSink

ADDRESS = "ada@example.com"
PHONE = "+14155550123"
AUTH_TOKEN = "twilio-auth-token"
EVENT_KEY = b"k" * 32
EVENT_SECRET = "whsec_" + base64.b64encode(EVENT_KEY).decode()


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {
            "email": ADDRESS,
            "phone": PHONE,
            "user_id": "u-42",
            "first_name": "Ada",
        }
        fakes.consent.grant(CUSTOMER)
        fakes.consent.grant(CUSTOMER, channel=SMS)
        yield fakes


async def report(running: Running, **fields: Any) -> pb.ReportProviderEventResponse:
    return await running.stub.ReportProviderEvent(
        pb.ReportProviderEventRequest(parent="workspaces/default", **fields)
    )


async def get_full(running: Running, name: str) -> pb.Message:
    return await running.stub.GetMessage(pb.GetMessageRequest(name=name, view=pb.MESSAGE_VIEW_FULL))


def statuses(message: pb.Message) -> list[str]:
    return [change.status for change in message.status_history]


async def test_provider_events_move_the_message_and_reach_profile_once_each(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        accepted = await running.stub.SendMessage(send_request("k-1"))
        sent = await settled(running.stub, accepted.name)
        assert sent.state == pb.MESSAGE_STATE_SENT
        assert statuses(sent) == ["QUEUED", "SENT"]
        # The basic view (the default) leaves the history out.
        basic = await running.stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
        assert not basic.status_history

        delivered = await report(
            running, message=accepted.name, type=pb.PROVIDER_EVENT_TYPE_DELIVERED
        )
        assert (delivered.message, delivered.outcome) == (
            accepted.name,
            pb.PROVIDER_EVENT_OUTCOME_APPLIED,
        )
        again = await report(running, message=accepted.name, type=pb.PROVIDER_EVENT_TYPE_DELIVERED)
        assert again.outcome == pb.PROVIDER_EVENT_OUTCOME_DUPLICATE
        # By the provider's id of the message, as a provider knows it.
        opened = await report(
            running,
            provider="smtp",
            provider_message_id=sent.provider_message_id,
            type=pb.PROVIDER_EVENT_TYPE_OPENED,
        )
        assert opened.outcome == pb.PROVIDER_EVENT_OUTCOME_APPLIED
        # Opened again: counted, not recorded twice (nor sent to profile twice).
        reopened = await report(running, message=accepted.name, type=pb.PROVIDER_EVENT_TYPE_OPENED)
        assert reopened.outcome == pb.PROVIDER_EVENT_OUTCOME_DUPLICATE
        message = await get_full(running, accepted.name)
        assert message.state == pb.MESSAGE_STATE_DELIVERED
        assert statuses(message) == ["QUEUED", "SENT", "DELIVERED", "OPENED"]
        assert message.status_history[3].reporter == "smtp"
        assert message.HasField("delivery_time") and message.HasField("open_time")
        assert not message.HasField("click_time")
        assert (message.open_count, message.click_count) == (2, 0)

        await wait_for(lambda: len(upstreams.profile.events) == 3)
    names = sorted(e.event for e in upstreams.profile.events.values())
    assert names == ["Email Delivered", "Email Opened", "Email Sent"]
    [event] = upstreams.profile.named("Email Delivered")
    assert event.properties["message"] == accepted.name
    assert event.properties["purpose"] == "marketing"
    assert {(i.type, i.value) for i in event.identifiers} == {
        ("user_id", "u-42"),
        ("email", ADDRESS),
        ("phone", PHONE),
    }
    # Never content or addresses in the properties.
    assert ADDRESS not in str(event.properties) and "Ada" not in str(event.properties)


async def test_events_for_unknown_or_unsent_messages_change_nothing(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    upstreams.consent.grant(CUSTOMER, allowed=False)
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        unknown = await report(
            running,
            message="workspaces/default/messages/nope",
            type=pb.PROVIDER_EVENT_TYPE_BOUNCED,
        )
        assert (unknown.message, unknown.outcome) == ("", pb.PROVIDER_EVENT_OUTCOME_UNKNOWN_MESSAGE)
        by_id = await report(
            running,
            provider="smtp",
            provider_message_id="<x@y>",
            type=pb.PROVIDER_EVENT_TYPE_OPENED,
        )
        assert by_id.outcome == pb.PROVIDER_EVENT_OUTCOME_UNKNOWN_MESSAGE
        # Suppressed, never sent: a provider event does not apply.
        accepted = await running.stub.SendMessage(send_request("k-1"))
        assert (await settled(running.stub, accepted.name)).state == pb.MESSAGE_STATE_SUPPRESSED
        answer = await report(running, message=accepted.name, type=pb.PROVIDER_EVENT_TYPE_DELIVERED)
        assert answer.outcome == pb.PROVIDER_EVENT_OUTCOME_NOT_APPLICABLE
        message = await get_full(running, accepted.name)
        assert statuses(message) == ["QUEUED", "SUPPRESSED"]
        await wait_for(lambda: len(upstreams.profile.events) == 1)
    assert [e.event for e in upstreams.profile.events.values()] == ["Email Suppressed"]
    assert upstreams.consent.records == []


async def test_bad_reports_are_refused_naming_the_field(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        name = "workspaces/default/messages/m1"
        future = timestamp_pb2.Timestamp(seconds=int(time.time()) + 3600)
        cases = [
            ({"message": name}, "type"),
            ({"type": pb.PROVIDER_EVENT_TYPE_DELIVERED}, "message"),
            ({"type": pb.PROVIDER_EVENT_TYPE_DELIVERED, "provider": "smtp"}, "provider_message_id"),
            ({"message": "workspaces/other/messages/m1", "type": 1}, "message"),
            ({"message": name, "type": 1, "event_time": future}, "event_time"),
            ({"message": name, "type": 1, "reason": "x" * 201}, "reason"),
            ({"message": name, "type": 99}, "type"),
        ]
        for fields, field in cases:
            await expect_error(
                report(running, **fields), grpc.StatusCode.INVALID_ARGUMENT, field=field
            )


async def test_profile_down_loses_no_event_and_stores_each_once(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    upstreams.profile.ingest_unavailable = True
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        accepted = await running.stub.SendMessage(send_request("k-1"))
        await settled(running.stub, accepted.name)
        await report(running, message=accepted.name, type=pb.PROVIDER_EVENT_TYPE_DELIVERED)
        await wait_for(lambda: upstreams.profile.ingest_calls >= 2)
        assert upstreams.profile.events == {}
        upstreams.profile.ingest_unavailable = False
        await wait_for(lambda: len(upstreams.profile.events) == 2)
    assert sorted(e.event for e in upstreams.profile.events.values()) == [
        "Email Delivered",
        "Email Sent",
    ]


async def test_hard_bounces_and_complaints_become_opt_outs(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    upstreams.consent.grant(CUSTOMER, purpose="news")
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        first = await running.stub.SendMessage(send_request("k-1"))
        await settled(running.stub, first.name)
        bounced = await report(
            running,
            message=first.name,
            type=pb.PROVIDER_EVENT_TYPE_BOUNCED,
            reason="smtp 550 5.1.1",
        )
        assert bounced.outcome == pb.PROVIDER_EVENT_OUTCOME_APPLIED
        message = await get_full(running, first.name)
        assert (message.state, message.failure_reason, message.failure_detail) == (
            pb.MESSAGE_STATE_BOUNCED,
            "BOUNCED",
            "smtp 550 5.1.1",
        )
        second = await running.stub.SendMessage(send_request("k-2", purpose="news"))
        await settled(running.stub, second.name)
        await report(running, message=second.name, type=pb.PROVIDER_EVENT_TYPE_COMPLAINED)
        await wait_for(lambda: len(upstreams.consent.records) == 2)
        assert sorted(upstreams.consent.opt_outs()) == [
            (CUSTOMER, "marketing", EMAIL, "bounce"),
            (CUSTOMER, "news", EMAIL, "complaint"),
        ]
        # The next marketing mail is suppressed by the recorded opt-out.
        third = await running.stub.SendMessage(send_request("k-3"))
        assert (await settled(running.stub, third.name)).state == pb.MESSAGE_STATE_SUPPRESSED
        await wait_for(lambda: upstreams.profile.named("Email Complained"))
    assert upstreams.profile.named("Email Bounced")


def _twilio_created(request: Received) -> Reply:
    return Reply(201, {"sid": "SM" + request.headers.get("idempotency-key", "")})


def _sms_settings(url: str) -> dict[str, Any]:
    return {
        "name": "sms",
        "base_url": url,
        "account_sid": "AC1",
        "auth_token": AUTH_TOKEN,
        "from_number": "+15005550006",
        "timeout_seconds": 1.0,
    }


def _sms_request(key: str) -> pb.SendMessageRequest:
    return send_request(
        key,
        channel=channel_pb2.CHANNEL_SMS,
        content=message_content_pb2.MessageContent(text_body="Hi {{ traits.first_name }}"),
    )


async def _signed_form(
    running: Running, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN
) -> Any:
    signature = twilio_signature(token, PUBLIC_BASE_URL + path, params.items())
    return await running.http.post(
        path,
        content=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
    )


async def test_twilio_status_callbacks_are_verified_and_applied(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=_twilio_created)
    settings = loop_settings(tmp_path, upstreams, smtp.port, sms_providers=[_sms_settings(api.url)])
    async with serve(settings) as running:
        accepted = await running.stub.SendMessage(_sms_request("k-1"))
        sent = await settled(running.stub, accepted.name)
        assert sent.state == pb.MESSAGE_STATE_SENT
        [request] = api.taken
        form = parse_qs(request.body.decode())
        path = "/v1/providers/sms/twilio/status"
        assert form["StatusCallback"] == [PUBLIC_BASE_URL + path]

        callback = {"MessageSid": sent.provider_message_id, "MessageStatus": "delivered"}
        # A wrong signature (another token) is refused and changes nothing.
        forged = await _signed_form(running, path, callback, token="not-the-token")
        assert forged.status_code == 403
        unsigned = await running.http.post(path, data=callback)
        assert unsigned.status_code == 403
        assert (await get_full(running, accepted.name)).state == pb.MESSAGE_STATE_SENT
        # Statuses before delivery, and unknown messages, are answered and change nothing.
        for params in (
            {"MessageSid": sent.provider_message_id, "MessageStatus": "sent"},
            {"MessageSid": "SMunknown", "MessageStatus": "delivered"},
        ):
            assert (await _signed_form(running, path, params)).status_code == 204
        assert (await _signed_form(running, path, callback)).status_code == 204
        message = await get_full(running, accepted.name)
        assert message.state == pb.MESSAGE_STATE_DELIVERED
        assert message.status_history[-1].reporter == "sms"
        # An unknown provider has no callback endpoint.
        other = await _signed_form(running, "/v1/providers/nope/twilio/status", callback)
        assert other.status_code == 404
        await wait_for(lambda: upstreams.profile.named("SMS Delivered"))


async def test_a_stop_reply_opts_the_number_out_of_every_sms(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, stand_ins: Any
) -> None:
    api = await stand_ins(default=_twilio_created)
    settings = loop_settings(tmp_path, upstreams, smtp.port, sms_providers=[_sms_settings(api.url)])

    def receipt(key: str) -> pb.SendMessageRequest:
        request = _sms_request(key)
        request.purpose = "transactional"
        return request

    async with serve(settings) as running:
        accepted = await running.stub.SendMessage(_sms_request("k-1"))
        assert (await settled(running.stub, accepted.name)).state == pb.MESSAGE_STATE_SENT
        # A service message needs no consent recorded for it.
        sent = await settled(running.stub, (await running.stub.SendMessage(receipt("k-0"))).name)
        assert sent.state == pb.MESSAGE_STATE_SENT
        path = "/v1/providers/sms/twilio/inbound"
        chat = {"From": PHONE, "To": "+15005550006", "Body": "hello?", "MessageSid": "SMin1"}
        assert (await _signed_form(running, path, chat)).status_code == 200
        stranger = {**chat, "From": "+14155550199", "Body": "STOP"}
        assert (await _signed_form(running, path, stranger)).status_code == 200
        assert upstreams.consent.records == []

        answer = await _signed_form(running, path, {**chat, "Body": " Stop "})
        assert answer.status_code == 200 and "<Response>" in answer.text
        # Every purpose it got SMS for, and every transactional one: carriers require
        # STOP to end all messages, and a service message needs no grant to go out.
        assert sorted(upstreams.consent.opt_outs()) == [
            (CUSTOMER, "marketing", SMS, "unsubscribe"),
            (CUSTOMER, "transactional", SMS, "unsubscribe"),
        ]

        again = await running.stub.SendMessage(_sms_request("k-2"))
        assert (await settled(running.stub, again.name)).state == pb.MESSAGE_STATE_SUPPRESSED
        service = await settled(running.stub, (await running.stub.SendMessage(receipt("k-3"))).name)
        assert service.state == pb.MESSAGE_STATE_SUPPRESSED
    assert len(api.taken) == 2


async def test_signed_event_callbacks_apply_each_event_on_its_own(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    settings = loop_settings(
        tmp_path, upstreams, smtp.port, provider_event_secrets={"smtp": EVENT_SECRET}
    )
    async with serve(settings) as running:
        accepted = await running.stub.SendMessage(send_request("k-1"))
        await settled(running.stub, accepted.name)
        body = json.dumps(
            {
                "events": [
                    {"type": "delivered", "message": accepted.name},
                    {"type": "no-such-type", "message": accepted.name},
                    {"type": "click", "message": accepted.name},
                    "not an object",
                    {"type": "open", "message": "workspaces/default/messages/unknown"},
                ]
            }
        ).encode()

        def headers(stamp: int, webhook_id: str = "evt_1") -> dict[str, str]:
            return {
                "webhook-id": webhook_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": standard_webhook_signature(
                    EVENT_KEY, webhook_id, str(stamp), body
                ),
                "content-type": "application/json",
            }

        now = int(time.time())
        path = "/v1/providers/smtp/events"
        stale = await running.http.post(path, content=body, headers=headers(now - 3600))
        assert stale.status_code == 403
        tampered = await running.http.post(path, content=body + b" ", headers=headers(now))
        assert tampered.status_code == 403
        assert (await get_full(running, accepted.name)).state == pb.MESSAGE_STATE_SENT

        answer = await running.http.post(path, content=body, headers=headers(now))
        assert answer.status_code == 200
        assert answer.json()["results"] == [
            "APPLIED",
            "UNREADABLE",
            "APPLIED",
            "UNREADABLE",
            "UNKNOWN_MESSAGE",
        ]
        message = await get_full(running, accepted.name)
        assert statuses(message) == ["QUEUED", "SENT", "DELIVERED", "CLICKED"]
        assert message.HasField("click_time")
        # No secret for this provider: no endpoint.
        none = await running.http.post(
            "/v1/providers/sms/events", content=body, headers=headers(now)
        )
        assert none.status_code == 404
