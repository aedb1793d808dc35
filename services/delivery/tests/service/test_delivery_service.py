"""DeliveryService through the real gRPC server, with fake upstreams and a real SMTP server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.delivery.bootstrap import build
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import serve_in_process, status_details

CUSTOMER = "workspaces/default/customers/c0ffee"
OTHER_CUSTOMER = "workspaces/default/customers/beef01"
ADDRESS = "ada@example.com"
QUEUED, SENT = pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENT
SUPPRESSED, FAILED = pb.MESSAGE_STATE_SUPPRESSED, pb.MESSAGE_STATE_FAILED

Wait = Callable[..., Awaitable[None]]


def send_request(
    key: str = "k-1", customer: str = CUSTOMER, **overrides: Any
) -> pb.SendMessageRequest:
    data = struct_pb2.Struct()
    data.update({"offer": "10% off", "html": "<b>bold</b>"})
    request = pb.SendMessageRequest(
        parent="workspaces/default",
        idempotency_key=key,
        customer=customer,
        purpose="marketing",
        channel=pb.CHANNEL_EMAIL,
        content=pb.MessageContent(
            subject="Hello {{ traits.first_name }}{{ traits.missing }}",
            text_body="Dear {{ traits.first_name }}, {{ data.offer }} {{ data.html }}",
            html_body="<p>{{ data.html }}</p>",
        ),
        data=data,
        source="workspaces/default/triggers/welcome",
    )
    for field, value in overrides.items():
        if field == "content":
            request.content.CopyFrom(value)
        else:
            setattr(request, field, value)
    return request


@asynccontextmanager
async def delivery(settings: DeliverySettings) -> AsyncIterator[pb_grpc.DeliveryServiceStub]:
    async with serve_in_process(build, settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield pb_grpc.DeliveryServiceStub(channel)


@pytest.fixture
def known_customer(upstreams: Any) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": f"  {ADDRESS} ", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)


async def final_state(stub: pb_grpc.DeliveryServiceStub, name: str, wait: Wait) -> pb.Message:
    async def done() -> bool:
        return (await stub.GetMessage(pb.GetMessageRequest(name=name))).state != QUEUED

    await wait(done)
    return await stub.GetMessage(pb.GetMessageRequest(name=name))


# --- the main path -------------------------------------------------------------------------


async def test_message_is_rendered_sent_and_reported(
    make_settings: Any,
    smtp: Any,
    known_customer: None,
    wait_until: Wait,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="rapport")
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        assert accepted.name.startswith("workspaces/default/messages/")
        assert accepted.state == QUEUED
        assert accepted.customer == CUSTOMER and accepted.idempotency_key == "k-1"
        assert accepted.source == "workspaces/default/triggers/welcome"
        message = await final_state(stub, accepted.name, wait_until)

    assert message.state == SENT, message.failure_reason
    assert (message.provider, message.attempt_count, message.failure_reason) == ("smtp", 1, "")
    assert message.HasField("send_time") and message.HasField("update_time")
    [(recipients, mail)] = smtp.received
    assert recipients == [ADDRESS]
    assert mail["To"] == ADDRESS
    assert mail["From"] == "Rapport <no-reply@rapport.local>"
    assert mail["Subject"] == "Hello Ada"
    assert mail["X-Rapport-Message"] == accepted.name
    assert mail["Message-ID"] == message.provider_message_id
    text = mail.get_body(("plain",)).get_content()
    assert text.strip() == "Dear Ada, 10% off <b>bold</b>"  # text is not escaped
    html = mail.get_body(("html",)).get_content()
    assert html.strip() == "<p>&lt;b&gt;bold&lt;/b&gt;</p>"  # html is
    # Our logs name the message and customer ids, never the address or what was said.
    ours = [r for r in caplog.records if r.name.startswith("rapport")]
    assert any(getattr(r, "message_id", None) == accepted.name.rsplit("/", 1)[1] for r in ours)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert ADDRESS not in logged and "Ada" not in logged and "10% off" not in logged


async def test_consent_denied_at_send_time_suppresses_without_mail(
    make_settings: Any, smtp: Any, upstreams: Any, wait_until: Wait
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": ADDRESS}
    upstreams.consent.grant(CUSTOMER, allowed=False)
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name, wait_until)
    assert (message.state, message.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert smtp.received == []
    [check] = upstreams.consent.checks
    assert (check.customer, check.purpose, check.channel) == (CUSTOMER, "marketing", 1)


async def test_opt_out_committed_after_queueing_is_honoured(
    make_settings: Any, smtp: Any, upstreams: Any, known_customer: None, wait_until: Wait
) -> None:
    # Invariant: no message is sent whose dispatch happens after the opt-out was committed.
    upstreams.profile.gate = asyncio.Event()
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        await asyncio.wait_for(upstreams.profile.entered.wait(), 5)  # dispatch has begun
        upstreams.consent.grant(CUSTOMER, allowed=False)  # the customer opts out now
        upstreams.profile.gate.set()
        message = await final_state(stub, accepted.name, wait_until)
    assert (message.state, message.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert smtp.received == []


async def test_twenty_concurrent_submissions_of_one_key_send_one_mail(
    make_settings: Any, smtp: Any, known_customer: None, wait_until: Wait
) -> None:
    async with delivery(make_settings()) as stub:
        replies = await asyncio.gather(*(stub.SendMessage(send_request("same")) for _ in range(20)))
        names = {reply.name for reply in replies}
        assert len(names) == 1
        await final_state(stub, names.pop(), wait_until)
        await asyncio.sleep(0.3)  # several poll cycles: nothing more goes out
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert len(listed.messages) == 1
    assert len(smtp.received) == 1


async def test_same_key_with_other_payload_is_refused_and_changes_nothing(
    make_settings: Any, smtp: Any, known_customer: None, wait_until: Wait
) -> None:
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request("k"))
        before = await final_state(stub, accepted.name, wait_until)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request("k", purpose="renewals"))
        again = await stub.SendMessage(send_request("k"))
        after = await stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = status_details(caught.value)
    assert info is not None
    assert (info.reason, info.domain) == ("IDEMPOTENCY_KEY_REUSED", "rapport.delivery.v1")
    assert info.metadata["message"] == accepted.name
    assert after == before and again == before  # the replay returns the message as it is now
    assert len(listed.messages) == 1 and len(smtp.received) == 1


# --- failures and retries ------------------------------------------------------------------


async def test_smtp_down_then_up_is_retried_and_delivered(
    make_settings: Any, smtp_sink: Any, known_customer: None, wait_until: Wait
) -> None:
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())

        async def retried() -> bool:
            message = await stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
            return message.attempt_count >= 2

        await wait_until(retried)  # connection refused, queued again with backoff
        smtp_sink.start()
        message = await final_state(stub, accepted.name, wait_until)
    assert message.state == SENT
    assert message.attempt_count >= 2
    assert len(smtp_sink.received) == 1


async def test_retries_exhausted_is_the_dead_letter_state(
    make_settings: Any, known_customer: None, wait_until: Wait
) -> None:
    # Nothing listens on the SMTP port.
    async with delivery(make_settings(max_attempts=3)) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name, wait_until)
    assert (message.state, message.failure_reason) == (FAILED, "RETRIES_EXHAUSTED")
    assert message.attempt_count == 3


async def test_profile_unavailable_is_retried(
    make_settings: Any, smtp: Any, upstreams: Any, known_customer: None, wait_until: Wait
) -> None:
    upstreams.profile.unavailable = True
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())

        async def retried() -> bool:
            message = await stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
            return message.attempt_count >= 2

        await wait_until(retried)
        upstreams.profile.unavailable = False
        message = await final_state(stub, accepted.name, wait_until)
    assert message.state == SENT and len(smtp.received) == 1


async def test_permanent_smtp_refusal_fails_with_provider_rejected(
    make_settings: Any, smtp: Any, known_customer: None, wait_until: Wait
) -> None:
    smtp.reply = "554 5.7.1 Message rejected"
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name, wait_until)
    assert (message.state, message.failure_reason) == (FAILED, "PROVIDER_REJECTED")
    assert message.attempt_count == 1 and smtp.received == []


@pytest.mark.parametrize(
    ("traits", "reason"),
    [
        (None, "NO_PROFILE"),
        ({"first_name": "Ada"}, "NO_ADDRESS"),
        ({"email": "   "}, "NO_ADDRESS"),
        ({"email": "ada@example.com\r\nBcc: eve@example.com"}, "INVALID_ADDRESS"),
    ],
)
async def test_customers_without_usable_address_fail(
    make_settings: Any,
    smtp: Any,
    upstreams: Any,
    wait_until: Wait,
    traits: dict[str, Any] | None,
    reason: str,
) -> None:
    if traits is not None:
        upstreams.profile.traits[CUSTOMER] = traits
    upstreams.consent.grant(CUSTOMER)
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name, wait_until)
    assert (message.state, message.failure_reason) == (FAILED, reason)
    assert smtp.received == []


async def test_template_failing_at_render_time_fails_the_message(
    make_settings: Any, smtp: Any, known_customer: None, wait_until: Wait
) -> None:
    content = pb.MessageContent(subject="Hi {{ traits.__class__ }}", text_body="body")
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request(content=content))
        message = await final_state(stub, accepted.name, wait_until)
    assert (message.state, message.failure_reason) == (FAILED, "TEMPLATE_ERROR")
    assert smtp.received == []


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "reason", "field"),
    [
        ({"parent": "workspace/default"}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "parent"),
        ({"parent": "workspaces/other"}, "NOT_FOUND", "NOT_FOUND", None),
        ({"idempotency_key": ""}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "idempotency_key"),
        ({"idempotency_key": "x" * 201}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "idempotency_key"),
        ({"idempotency_key": "a\nb"}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "idempotency_key"),
        ({"customer": ""}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "customer"),
        (
            {"customer": "workspaces/other/customers/c0ffee"},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "customer",
        ),
        ({"purpose": ""}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "purpose"),
        ({"purpose": "Marketing"}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "purpose"),
        ({"channel": pb.CHANNEL_UNSPECIFIED}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "channel"),
        ({"channel": 42}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "channel"),
        (
            {"content": pb.MessageContent(text_body="body")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.subject",
        ),
        (
            {"content": pb.MessageContent(subject="s")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.text_body",
        ),
        (
            {"content": pb.MessageContent(subject="{{ oops", text_body="b")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.subject",
        ),
        (
            {"content": pb.MessageContent(subject="s", text_body="{% if %}")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.text_body",
        ),
        (
            {"content": pb.MessageContent(subject="s", text_body="b", html_body="{% for %}")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.html_body",
        ),
        ({"channel": pb.CHANNEL_SMS}, "FAILED_PRECONDITION", "CHANNEL_NOT_CONFIGURED", None),
    ],
)
async def test_bad_send_requests_are_refused_and_change_nothing(
    make_settings: Any,
    overrides: dict[str, Any],
    code: str,
    reason: str,
    field: str | None,
) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request(**overrides))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert caught.value.code() == grpc.StatusCode[code]
    info, bad_request = status_details(caught.value)
    assert info is not None and info.reason == reason
    if field is not None:
        assert bad_request is not None
        assert [v.field for v in bad_request.field_violations] == [field]
    assert list(listed.messages) == []


async def test_get_message_errors(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        for name, code in [
            ("workspaces/default/messages/nope", grpc.StatusCode.NOT_FOUND),
            ("workspaces/other/messages/nope", grpc.StatusCode.NOT_FOUND),
            ("messages/nope", grpc.StatusCode.INVALID_ARGUMENT),
            ("", grpc.StatusCode.INVALID_ARGUMENT),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMessage(pb.GetMessageRequest(name=name))
            assert caught.value.code() == code, name
            info, _ = status_details(caught.value)
            assert info is not None and info.domain == "rapport.delivery.v1"


# --- listing -----------------------------------------------------------------------------------


async def test_list_messages_pages_newest_first_with_customer_filter(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        sent = []
        for i in range(7):
            customer = CUSTOMER if i % 2 == 0 else OTHER_CUSTOMER
            sent.append(await stub.SendMessage(send_request(f"key-{i}", customer=customer)))

        names: list[str] = []
        token = ""
        pages = 0
        while True:
            page = await stub.ListMessages(
                pb.ListMessagesRequest(parent="workspaces/default", page_size=3, page_token=token)
            )
            pages += 1
            assert len(page.messages) <= 3
            names += [m.name for m in page.messages]
            token = page.next_page_token
            if not token:
                break
        assert pages == 3
        assert names == [m.name for m in reversed(sent)]

        first = await stub.ListMessages(
            pb.ListMessagesRequest(parent="workspaces/default", customer=CUSTOMER, page_size=2)
        )
        rest = await stub.ListMessages(
            pb.ListMessagesRequest(
                parent="workspaces/default",
                customer=CUSTOMER,
                page_size=2,
                page_token=first.next_page_token,
            )
        )
        mine = [m.name for m in [*first.messages, *rest.messages]]
        assert mine == [m.name for m in reversed(sent) if m.customer == CUSTOMER]
        assert rest.next_page_token == ""

        # A token only continues the listing it came from.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListMessages(
                pb.ListMessagesRequest(
                    parent="workspaces/default",
                    customer=OTHER_CUSTOMER,
                    page_token=first.next_page_token,
                )
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad_request = status_details(caught.value)
        assert bad_request is not None
        assert bad_request.field_violations[0].field == "page_token"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": -1}, "page_size"),
        ({"page_token": "garbage"}, "page_token"),
        ({"customer": "workspaces/other/customers/c0ffee"}, "customer"),
        ({"parent": ""}, "parent"),
    ],
)
async def test_list_messages_bad_input(
    make_settings: Any, request_fields: dict[str, Any], field: str
) -> None:
    values = {"parent": "workspaces/default", **request_fields}
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListMessages(pb.ListMessagesRequest(**values))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = status_details(caught.value)
    assert bad_request is not None and bad_request.field_violations[0].field == field


# --- auth ----------------------------------------------------------------------------------------


async def test_method_scopes(make_settings: Any) -> None:
    settings = make_settings(
        dispatcher_enabled=False,
        auth_tokens={"reader": ["delivery.read"], "sender": ["delivery.send"]},
    )

    def auth(token: str) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {token}"),)

    async with delivery(settings) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request(), metadata=auth("reader"))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        accepted = await stub.SendMessage(send_request(), metadata=auth("sender"))
        got = await stub.GetMessage(
            pb.GetMessageRequest(name=accepted.name), metadata=auth("reader")
        )
        assert got.name == accepted.name
