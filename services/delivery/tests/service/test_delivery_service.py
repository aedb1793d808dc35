"""DeliveryService through the real gRPC server, with fake upstreams and a real SMTP server:
the main path, failures and retries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, status_details
from rapport.type.v1 import message_content_pb2

from .._delivery_support import CUSTOMER, delivery, send_request

ADDRESS = "ada@example.com"
QUEUED, SENT = pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENT
SUPPRESSED, FAILED = pb.MESSAGE_STATE_SUPPRESSED, pb.MESSAGE_STATE_FAILED
# Attempts go through fake upstreams and a real SMTP server: allow for a slow machine.
WITHIN = 10.0


@pytest.fixture
def known_customer(upstreams: Any) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": f"  {ADDRESS} ", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)


async def final_state(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name))
        return message if message.state not in (QUEUED, pb.MESSAGE_STATE_SENDING) else None

    return await eventually(done, timeout=WITHIN)


# --- the main path -------------------------------------------------------------------------


async def test_message_is_rendered_sent_and_reported(
    make_settings: Any,
    smtp: Any,
    known_customer: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="rapport")
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        assert accepted.name.startswith("workspaces/default/messages/")
        assert accepted.state == QUEUED
        assert accepted.customer == CUSTOMER and accepted.idempotency_key == "k-1"
        assert accepted.source == "workspaces/default/triggers/welcome"
        message = await final_state(stub, accepted.name)

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
    # A marketing mail: the unsubscribe link follows the body (see test_delivery_unsubscribe).
    body, link = text.replace("\r\n", "\n").split("\n\n--\nUnsubscribe: ")
    assert body == "Dear Ada, 10% off <b>bold</b>"  # text is not escaped
    assert mail["List-Unsubscribe"] == f"<{link.strip()}>"
    html = mail.get_body(("html",)).get_content()
    html = html.replace("\r\n", "\n").split("\n<p style=")[0]
    assert html == "<p>&lt;b&gt;bold&lt;/b&gt;</p>"  # html is
    # Our logs name the message and customer ids, never the address or what was said.
    ours = [r for r in caplog.records if r.name.startswith("rapport")]
    assert any(getattr(r, "message_id", None) == accepted.name.rsplit("/", 1)[1] for r in ours)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert ADDRESS not in logged and "Ada" not in logged and "10% off" not in logged


async def test_consent_denied_at_send_time_suppresses_without_mail(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": ADDRESS, "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER, allowed=False)
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name)
    assert (message.state, message.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert smtp.received == []
    [check] = upstreams.consent.checks
    assert (check.customer, check.purpose, check.channel) == (CUSTOMER, "marketing", 1)
    assert not check.HasField("check_time")  # the consent in force now


async def test_a_transactional_message_needs_no_consent_record_but_a_denial_stops_it(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    # Nothing recorded for the customer: marketing is opt-in, a service message rests on
    # the contract and goes out, saying why; a recorded denial of it is honoured.
    upstreams.profile.traits[CUSTOMER] = {"email": ADDRESS, "first_name": "Ada"}
    async with delivery(make_settings()) as stub:

        async def sent(key: str, purpose: str) -> pb.Message:
            accepted = await stub.SendMessage(send_request(key, purpose=purpose))
            await final_state(stub, accepted.name)
            return await stub.GetMessage(
                pb.GetMessageRequest(name=accepted.name, view=pb.MESSAGE_VIEW_FULL)
            )

        receipt = await sent("receipt", "transactional")
        offer = await sent("offer", "marketing")
        upstreams.consent.grant(CUSTOMER, "transactional", allowed=False)
        refused = await sent("refused", "transactional")
        upstreams.consent.grant(CUSTOMER, "transactional")
        granted = await sent("granted", "transactional")

    assert receipt.state == SENT, receipt.failure_reason
    assert [(c.status, c.reason) for c in receipt.status_history] == [
        ("QUEUED", ""),
        ("SENT", "TRANSACTIONAL_NO_CONSENT_RECORD"),
    ]
    assert (offer.state, offer.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert (refused.state, refused.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert (granted.state, granted.status_history[-1].reason) == (SENT, "")
    assert len(smtp.received) == 2


async def test_opt_out_committed_after_queueing_is_honoured(
    make_settings: Any, smtp: Any, upstreams: Any, known_customer: None
) -> None:
    # Invariant: no message is sent whose dispatch happens after the opt-out was committed.
    upstreams.profile.gate = asyncio.Event()
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        await asyncio.wait_for(upstreams.profile.entered.wait(), 5)  # dispatch has begun
        upstreams.consent.grant(CUSTOMER, allowed=False)  # the customer opts out now
        upstreams.profile.gate.set()
        message = await final_state(stub, accepted.name)
    assert (message.state, message.failure_reason) == (SUPPRESSED, "CONSENT_DENIED")
    assert smtp.received == []


async def test_twenty_concurrent_submissions_of_one_key_send_one_mail(
    make_settings: Any, smtp: Any, known_customer: None
) -> None:
    async with delivery(make_settings()) as stub:
        replies = await asyncio.gather(*(stub.SendMessage(send_request("same")) for _ in range(20)))
        names = {reply.name for reply in replies}
        assert len(names) == 1
        await final_state(stub, names.pop())
        await asyncio.sleep(0.3)  # several poll cycles: nothing more goes out
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert len(listed.messages) == 1
    assert len(smtp.received) == 1


async def test_same_key_with_other_payload_is_refused_and_changes_nothing(
    make_settings: Any, smtp: Any, known_customer: None
) -> None:
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request("k"))
        before = await final_state(stub, accepted.name)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request("k", purpose="renewals"))
        again = await stub.SendMessage(send_request("k"))
        after = await stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = status_details(caught.value)
    assert info is not None
    assert (info.reason, info.domain) == ("IDEMPOTENCY_KEY_REUSED", "delivery.rapport.dev")
    assert info.metadata["message"] == accepted.name
    assert after == before and again == before  # the replay returns the message as it is now
    assert len(listed.messages) == 1 and len(smtp.received) == 1


async def test_replay_with_data_keys_in_another_order_is_the_same_message(
    make_settings: Any,
) -> None:
    first, second = struct_pb2.Struct(), struct_pb2.Struct()
    first.update({"a": 1, "b": {"x": [1, 2], "y": "z"}})
    second.update({"b": {"y": "z", "x": [1.0, 2.0]}, "a": 1.0})
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        accepted = await stub.SendMessage(send_request("k", data=first))
        again = await stub.SendMessage(send_request("k", data=second))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            changed = struct_pb2.Struct()
            changed.update({"a": 2, "b": {"x": [1, 2], "y": "z"}})
            await stub.SendMessage(send_request("k", data=changed))
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert again == accepted
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = status_details(caught.value)
    assert info is not None and info.reason == "IDEMPOTENCY_KEY_REUSED"
    assert [m.name for m in listed.messages] == [accepted.name]


# --- failures and retries ------------------------------------------------------------------


async def test_smtp_down_then_up_is_retried_and_delivered(
    make_settings: Any, smtp_sink: Any, known_customer: None
) -> None:
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())

        async def retried() -> bool:
            message = await stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
            return message.attempt_count >= 2

        await eventually(retried, timeout=WITHIN)  # connection refused, queued again with backoff
        smtp_sink.start()
        message = await final_state(stub, accepted.name)
    assert message.state == SENT
    assert message.attempt_count >= 2
    assert len(smtp_sink.received) == 1


async def test_retries_exhausted_is_the_dead_letter_state(
    make_settings: Any, known_customer: None
) -> None:
    # Nothing listens on the SMTP port.
    async with delivery(make_settings(max_attempts=3)) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name)
    assert (message.state, message.failure_reason) == (
        pb.MESSAGE_STATE_DEAD_LETTERED,
        "RETRIES_EXHAUSTED",
    )
    assert message.attempt_count == 3


async def test_profile_unavailable_is_retried(
    make_settings: Any, smtp: Any, upstreams: Any, known_customer: None
) -> None:
    upstreams.profile.unavailable = True
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())

        async def retried() -> bool:
            message = await stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
            return message.attempt_count >= 2

        await eventually(retried, timeout=WITHIN)
        upstreams.profile.unavailable = False
        message = await final_state(stub, accepted.name)
    assert message.state == SENT and len(smtp.received) == 1


async def test_permanent_smtp_refusal_fails_with_provider_rejected(
    make_settings: Any, smtp: Any, known_customer: None
) -> None:
    smtp.reply = "554 5.7.1 Message rejected"
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name)
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
    traits: dict[str, Any] | None,
    reason: str,
) -> None:
    if traits is not None:
        upstreams.profile.traits[CUSTOMER] = traits
    upstreams.consent.grant(CUSTOMER)
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request())
        message = await final_state(stub, accepted.name)
    assert (message.state, message.failure_reason) == (FAILED, reason)
    assert smtp.received == []


async def test_template_failing_at_render_time_fails_the_message(
    make_settings: Any, smtp: Any, known_customer: None
) -> None:
    content = message_content_pb2.MessageContent(
        subject="Hi {{ traits.__class__ }}", text_body="body"
    )
    async with delivery(make_settings()) as stub:
        accepted = await stub.SendMessage(send_request(content=content))
        message = await final_state(stub, accepted.name)
    assert (message.state, message.failure_reason) == (FAILED, "TEMPLATE_ERROR")
    assert smtp.received == []


async def test_the_upstream_error_reason_is_logged_with_the_retry(
    make_settings: Any,
    upstreams: Any,
    known_customer: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rapport")
    upstreams.profile.unavailable = True
    upstreams.profile.unavailable_reason = "SHUTTING_DOWN"
    async with delivery(make_settings()) as stub:
        await stub.SendMessage(send_request())
        await eventually(
            lambda: any(
                getattr(r, "error_reason", None) == "PROFILE_UNAVAILABLE_SHUTTING_DOWN"
                for r in caplog.records
            ),
            timeout=WITHIN,
        )
