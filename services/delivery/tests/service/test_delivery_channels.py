"""Every channel through the real gRPC server, stand-in providers on 127.0.0.1, and
provider fallback: definite failures fall back, ambiguous ones never send twice."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import parse_qs

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, status_details
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import (
    CUSTOMER,
    assert_refused,
    delivery,
    free_port,
    free_port_url,
    send_request,
)
from .._stand_in import Received, Reply
from ..conftest import SmtpSink

SENT, SUPPRESSED, FAILED = (
    pb.MESSAGE_STATE_SENT,
    pb.MESSAGE_STATE_SUPPRESSED,
    pb.MESSAGE_STATE_FAILED,
)
SECRET = "whsec_" + base64.b64encode(b"s" * 24).decode()
TEXT = message_content_pb2.MessageContent(
    subject="Hello {{ traits.first_name }}",
    text_body="Hi {{ traits.first_name }}: {{ data.offer }}",
)
WITHIN = 10.0


def twilio_created(request: Received) -> Reply:
    return Reply(201, {"sid": "SM" + request.headers.get("idempotency-key", "")})


def sms(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "base_url": url,
        "account_sid": "AC1",
        "auth_token": "secret",
        "from_number": "+15005550006",
        "timeout_seconds": 1.0,
        **extra,
    }


@pytest.fixture
def reachable_customer(upstreams: Any) -> None:
    upstreams.profile.traits[CUSTOMER] = {
        "email": "ada@example.com",
        "phone": "+44 7911 123456",
        "push_token": "device-1",
        "first_name": "Ada",
    }
    for channel in (1, 2, 3, 4, 5):
        upstreams.consent.grant(CUSTOMER, channel=channel)


async def final(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        return (
            message
            if message.state not in (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENDING)
            else None
        )

    return await eventually(done, timeout=WITHIN)


def on(channel: int, key: str = "k-1") -> pb.SendMessageRequest:
    return send_request(key, channel=channel, content=TEXT)


async def test_sms_push_and_webhook_go_out_through_their_providers(
    make_settings: Any, stand_ins: Any, upstreams: Any, reachable_customer: None
) -> None:
    sms_api = await stand_ins(default=twilio_created)
    push_api = await stand_ins(default=lambda r: Reply(200, {"name": "projects/p/messages/1"}))
    receiver = await stand_ins(default=lambda r: Reply(204))
    settings = make_settings(
        sms_providers=[sms("sms", sms_api.url)],
        push_providers=[
            {"name": "push", "endpoint": push_api.url, "project_id": "p", "access_token": "tok"}
        ],
        webhook_endpoints={"default": {"url": receiver.url + "/hook", "secret": SECRET}},
    )
    async with delivery(settings) as stub:
        sent = {
            channel: await final(stub, (await stub.SendMessage(on(channel, f"k{channel}"))).name)
            for channel in (
                channel_pb2.CHANNEL_SMS,
                channel_pb2.CHANNEL_PUSH,
                channel_pb2.CHANNEL_WEBHOOK,
            )
        }
    assert {c: (m.state, m.provider) for c, m in sent.items()} == {
        channel_pb2.CHANNEL_SMS: (SENT, "sms"),
        channel_pb2.CHANNEL_PUSH: (SENT, "push"),
        channel_pb2.CHANNEL_WEBHOOK: (SENT, "webhook"),
    }
    [text] = sms_api.received
    assert parse_qs(text.body.decode())["Body"] == ["Hi Ada: 10% off\nReply STOP to opt out."]
    assert parse_qs(text.body.decode())["To"] == ["+447911123456"]  # E.164
    assert (
        sent[channel_pb2.CHANNEL_SMS].provider_message_id == "SM" + text.headers["idempotency-key"]
    )
    [push] = push_api.received
    assert push.json()["message"]["token"] == "device-1"
    assert push.json()["message"]["notification"] == {
        "title": "Hello Ada",
        "body": "Hi Ada: 10% off",
    }
    [hook] = receiver.received
    assert hook.path == "/hook" and hook.headers["webhook-signature"].startswith("v1,")
    webhook_message = sent[channel_pb2.CHANNEL_WEBHOOK]
    assert hook.json()["data"]["message"] == webhook_message.name
    assert webhook_message.provider_message_id == hook.headers["webhook-id"]
    # Consent was asked for each message on its own channel.
    assert sorted(c.channel for c in upstreams.consent.checks) == [2, 3, 4]


async def test_the_in_app_inbox_is_listed_and_marked_read(
    make_settings: Any, reachable_customer: None
) -> None:
    async with delivery(make_settings()) as stub:
        first = await final(
            stub, (await stub.SendMessage(on(channel_pb2.CHANNEL_IN_APP, "a"))).name
        )
        second = await final(
            stub, (await stub.SendMessage(on(channel_pb2.CHANNEL_IN_APP, "b"))).name
        )
        listed = await stub.ListInboxMessages(pb.ListInboxMessagesRequest(parent=CUSTOMER))
        read = await stub.MarkInboxMessageRead(
            pb.MarkInboxMessageReadRequest(name=listed.inbox_messages[1].name)
        )
        again = await stub.MarkInboxMessageRead(pb.MarkInboxMessageReadRequest(name=read.name))
        unread = await stub.ListInboxMessages(
            pb.ListInboxMessagesRequest(parent=CUSTOMER, unread_only=True)
        )
        page = await stub.ListInboxMessages(
            pb.ListInboxMessagesRequest(parent=CUSTOMER, page_size=1)
        )
        rest = await stub.ListInboxMessages(
            pb.ListInboxMessagesRequest(
                parent=CUSTOMER, page_size=1, page_token=page.next_page_token
            )
        )
        got = await stub.GetInboxMessage(pb.GetInboxMessageRequest(name=read.name))
    assert (first.state, first.provider, second.state) == (SENT, "inbox", SENT)
    assert [m.message for m in listed.inbox_messages] == [second.name, first.name]  # newest first
    inbox_message = listed.inbox_messages[1]
    assert inbox_message.name == f"{CUSTOMER}/inboxMessages/{first.name.rsplit('/', 1)[1]}"
    assert first.provider_message_id == inbox_message.name
    assert (inbox_message.subject, inbox_message.text_body) == ("Hello Ada", "Hi Ada: 10% off")
    assert dict(inbox_message.data)["offer"] == "10% off"
    assert not inbox_message.HasField("read_time") and read.HasField("read_time")
    assert again.read_time == read.read_time  # the first read stays
    assert [m.message for m in unread.inbox_messages] == [second.name]
    assert [m.message for m in page.inbox_messages] == [second.name] and page.next_page_token
    assert [m.message for m in rest.inbox_messages] == [first.name] and not rest.next_page_token
    assert got == read


@pytest.mark.parametrize(
    ("call", "code", "field"),
    [
        ("GetInboxMessage", grpc.StatusCode.INVALID_ARGUMENT, "name"),
        ("MarkInboxMessageRead", grpc.StatusCode.INVALID_ARGUMENT, "name"),
        ("ListInboxMessages", grpc.StatusCode.INVALID_ARGUMENT, "parent"),
    ],
)
async def test_inbox_requests_with_bad_names(
    make_settings: Any, call: str, code: grpc.StatusCode, field: str
) -> None:
    request = (
        pb.ListInboxMessagesRequest(parent="workspaces/default")
        if call == "ListInboxMessages"
        else getattr(pb, f"{call}Request")(name=f"{CUSTOMER}/messages/x")
    )
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await getattr(stub, call)(request)
    assert caught.value.code() == code
    _, bad_request = status_details(caught.value)
    assert bad_request is not None and bad_request.field_violations[0].field == field


async def test_inbox_messages_that_do_not_exist(make_settings: Any) -> None:
    missing = f"{CUSTOMER}/inboxMessages/nope"
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as get:
            await stub.GetInboxMessage(pb.GetInboxMessageRequest(name=missing))
        with pytest.raises(grpc.aio.AioRpcError) as mark:
            await stub.MarkInboxMessageRead(pb.MarkInboxMessageReadRequest(name=missing))
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await stub.ListInboxMessages(
                pb.ListInboxMessagesRequest(parent="workspaces/other/customers/c0ffee")
            )
        empty = await stub.ListInboxMessages(pb.ListInboxMessagesRequest(parent=CUSTOMER))
    assert get.value.code() == mark.value.code() == grpc.StatusCode.NOT_FOUND
    assert other.value.code() == grpc.StatusCode.NOT_FOUND  # a workspace not served
    assert list(empty.inbox_messages) == []


@pytest.mark.parametrize(
    ("request_fields", "code", "reason", "field"),
    [
        (
            {
                "channel": channel_pb2.CHANNEL_SMS,
                "content": message_content_pb2.MessageContent(subject="no text"),
            },
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.text_body",
        ),
        (
            {
                "channel": channel_pb2.CHANNEL_PUSH,
                "content": TEXT,
                "data": struct_pb2.Struct(fields={"from": struct_pb2.Value(string_value="x")}),
            },
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "data.from",
        ),
        (
            {
                "channel": channel_pb2.CHANNEL_IN_APP,
                "content": message_content_pb2.MessageContent(subject="title only"),
            },
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.text_body",
        ),
        # No webhook endpoint for the workspace, no push provider in this deployment.
        (
            {"channel": channel_pb2.CHANNEL_WEBHOOK, "content": TEXT},
            "FAILED_PRECONDITION",
            "CHANNEL_NOT_CONFIGURED",
            None,
        ),
        (
            {"channel": channel_pb2.CHANNEL_PUSH, "content": TEXT},
            "FAILED_PRECONDITION",
            "CHANNEL_NOT_CONFIGURED",
            None,
        ),
    ],
)
async def test_channel_specific_bad_requests_change_nothing(
    make_settings: Any, request_fields: dict[str, Any], code: str, reason: str, field: str | None
) -> None:
    settings = make_settings(
        dispatcher_enabled=False,
        sms_providers=[sms("sms", free_port_url())],
        webhook_endpoints={"brand-b": {"url": "https://hooks.example.com", "secret": SECRET}},
        workspaces=["default", "brand-b"],
    )
    async with delivery(settings) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request(**request_fields))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert_refused(caught.value, code, reason, field)
    assert list(listed.messages) == []


async def test_sms_consent_denied_is_suppressed_without_a_request(
    make_settings: Any, stand_ins: Any, upstreams: Any, reachable_customer: None
) -> None:
    api = await stand_ins(default=twilio_created)
    upstreams.consent.grant(CUSTOMER, allowed=False, channel=channel_pb2.CHANNEL_SMS)
    async with delivery(make_settings(sms_providers=[sms("sms", api.url)])) as stub:
        message = await final(stub, (await stub.SendMessage(on(channel_pb2.CHANNEL_SMS))).name)
    assert (message.state, message.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert api.received == []


# --- fallback ------------------------------------------------------------------------------


async def test_with_the_primary_refusing_connections_the_fallback_sends_each_once(
    make_settings: Any, stand_ins: Any, reachable_customer: None
) -> None:
    backup = await stand_ins(default=twilio_created)
    settings = make_settings(
        sms_providers=[sms("sms-primary", free_port_url()), sms("sms-backup", backup.url)],
        breaker_failure_threshold=3,
    )
    keys = [f"k{i}" for i in range(10)]
    async with delivery(settings) as stub:
        # Every key submitted three times, concurrently.
        replies = await asyncio.gather(
            *(stub.SendMessage(on(channel_pb2.CHANNEL_SMS, key)) for key in keys * 3)
        )
        names = sorted({reply.name for reply in replies})
        messages = [await final(stub, name) for name in names]
        await asyncio.sleep(0.3)  # several poll cycles: nothing more goes out
    assert len(names) == len(keys)
    assert {(m.state, m.provider, m.attempt_count) for m in messages} == {(SENT, "sms-backup", 1)}
    sent_keys = [r.headers["idempotency-key"] for r in backup.received]
    assert sorted(sent_keys) == sorted(m.name.rsplit("/", 1)[1] for m in messages)  # once each


async def test_an_ambiguous_smtp_timeout_never_falls_back(
    make_settings: Any, smtp_sink: SmtpSink, reachable_customer: None
) -> None:
    smtp_sink.delay = 3.0  # takes the mail, answers after the client gave up
    smtp_sink.start()
    backup = SmtpSink(free_port())
    backup.start()
    try:
        settings = make_settings(
            max_attempts=2,
            email_providers=[
                {"name": "smtp", "port": smtp_sink.port, "timeout_seconds": 0.5},
                {"name": "smtp-backup", "port": backup.port, "timeout_seconds": 2.0},
            ],
        )
        async with delivery(settings) as stub:
            message = await final(stub, (await stub.SendMessage(send_request())).name)
    finally:
        backup.stop()
    assert (message.state, message.failure_reason) == (
        pb.MESSAGE_STATE_DEAD_LETTERED,
        "RETRIES_EXHAUSTED",
    )
    assert message.attempt_count == 2
    assert backup.received == []  # the backup was never asked: the first relay may have it


async def test_an_ambiguous_sms_timeout_is_settled_by_the_idempotency_key(
    make_settings: Any, stand_ins: Any, reachable_customer: None
) -> None:
    # The first answer comes too late; the repeat with the same key gets it.
    primary = await stand_ins(script=[Reply(201, {"sid": "SM1"}, delay=2.0)])
    backup = await stand_ins(default=twilio_created)
    settings = make_settings(
        sms_providers=[
            sms("sms-primary", primary.url, timeout_seconds=0.5),
            sms("sms-backup", backup.url),
        ]
    )
    async with delivery(settings) as stub:
        message = await final(stub, (await stub.SendMessage(on(channel_pb2.CHANNEL_SMS))).name)
    assert (message.state, message.provider, message.provider_message_id) == (
        SENT,
        "sms-primary",
        "SM1",
    )
    assert len(primary.taken) == 1 and len(primary.received) == 2
    assert backup.received == []
