"""SMS length through the real gRPC server: RenderTemplate shows the SMS as it would go
out (the opt-out notice for a marketing purpose) with its encoding and segments; a save
whose `sms_body` is already too long is refused; a send whose final text is too long
fails SMS_TOO_LONG and never reaches the provider; an inline SMS without template markup
that is already too long is refused when accepted."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from pydantic import ValidationError
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import assert_refused, delivery, send_request
from .test_delivery_channels import final, sms, twilio_created
from .test_delivery_sms_opt_out import bodies, reachable, text

__all__ = ["reachable"]  # the fixture, used by name

PARENT = "workspaces/default"
NOTICE = "\nReply STOP to opt out."


def offer(sms_body: str, text_body: str = "Our offer") -> pb.Template:
    return pb.Template(
        default_locale="en",
        contents={
            "en": pb.TemplateContent(subject="Offer", text_body=text_body, sms_body=sms_body)
        },
    )


def preview(template: pb.Template, **fields: Any) -> pb.RenderTemplateRequest:
    return pb.RenderTemplateRequest(
        parent=PARENT, inline_template=template, channel=channel_pb2.CHANNEL_SMS, **fields
    )


async def test_render_template_shows_the_sms_as_sent_with_its_encoding_and_segments(
    make_settings: Any,
) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        body = "Hi {{ traits.first_name }}, " + "x" * 140  # 148 characters
        marketing = await stub.RenderTemplate(preview(offer(body), purpose="marketing"))
        assert marketing.content.text_body == "Hi Ada, " + "x" * 140 + NOTICE
        assert marketing.sms == pb.SmsLength(
            encoding=pb.SMS_ENCODING_GSM_7, unit_count=171, segment_count=2, max_segment_count=10
        )
        # A transactional purpose, or none, carries no notice: one segment.
        for purpose in ("transactional", ""):
            plain = await stub.RenderTemplate(preview(offer(body), purpose=purpose))
            assert plain.content.text_body == "Hi Ada, " + "x" * 140
            assert (plain.sms.unit_count, plain.sms.segment_count) == (148, 1)
        # One emoji makes it UCS-2: 70 code units a segment, 67 once concatenated.
        emoji = await stub.RenderTemplate(preview(offer("Sale 🎉 " + "x" * 62)))
        assert emoji.sms == pb.SmsLength(
            encoding=pb.SMS_ENCODING_UCS_2, unit_count=70, segment_count=1, max_segment_count=10
        )
        # A text already too long is shown, not refused: the preview says so.
        long = await stub.RenderTemplate(preview(offer("{{ 'ab' * 800 }}")))
        assert (long.sms.segment_count, long.sms.max_segment_count) == (11, 10)
        email = await stub.RenderTemplate(
            pb.RenderTemplateRequest(parent=PARENT, inline_template=offer("Hi"), purpose="news")
        )
        assert not email.HasField("sms")
        assert email.content.text_body == "Our offer"


async def test_render_template_refuses_a_bad_purpose(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RenderTemplate(preview(offer("Hi"), purpose="Not A Purpose"))
        assert_refused(err.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "purpose")


async def test_a_template_whose_sms_body_renders_too_long_is_refused_when_saved(
    make_settings: Any,
) -> None:
    field = 'template.contents["en"].sms_body'
    async with delivery(make_settings(dispatcher_enabled=False, max_sms_segments=2)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateTemplate(
                pb.CreateTemplateRequest(
                    parent=PARENT,
                    template_id="long",
                    template=offer("{{ traits.first_name }} " + "x" * 303),  # 307 septets
                )
            )
        assert_refused(err.value, "INVALID_ARGUMENT", "SMS_TOO_LONG", field)
        assert "3 segments" in err.value.details() and "at most 2" in err.value.details()
        # An email's long text_body is no SMS: saved.
        saved = await stub.CreateTemplate(
            pb.CreateTemplateRequest(
                parent=PARENT, template_id="long", template=offer("Short", "x" * 5000)
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.UpdateTemplate(
                pb.UpdateTemplateRequest(
                    template=pb.Template(name=saved.name, contents=offer("€" * 154).contents),
                    update_mask=field_mask_pb2.FieldMask(paths=["contents"]),
                )
            )
        assert_refused(err.value, "INVALID_ARGUMENT", "SMS_TOO_LONG", field)
        kept = await stub.GetTemplate(pb.GetTemplateRequest(name=saved.name))
        assert kept.contents["en"].sms_body == "Short"


async def test_an_sms_too_long_to_send_fails_and_never_reaches_the_provider(
    make_settings: Any, stand_ins: Any, reachable: None
) -> None:
    api = await stand_ins(default=twilio_created)
    settings = make_settings(sms_providers=[sms("sms", api.url)], max_sms_segments=2)
    ten = "x" * 306  # two segments exactly
    # Markup: only the render tells how long it is (a text without any is refused when
    # accepted, below).
    markup = "{{ 'x' }}"
    async with delivery(settings) as stub:
        outcomes = {}
        for key, request in (
            ("fits", text(ten, "k-1", purpose="transactional")),
            ("too-long", text(markup + ten, "k-2", purpose="transactional")),
            # Only the opt-out notice of a marketing SMS takes it over the limit.
            ("with-notice", text(markup + ten[1:], "k-3")),
            # A saved template's text_body, which SMS fall back to, is checked at send
            # (400 characters and the notice).
            ("template", None),
        ):
            if request is None:
                saved = await stub.CreateTemplate(
                    pb.CreateTemplateRequest(
                        parent=PARENT, template_id="offer", template=offer("", "y" * 400)
                    )
                )
                request = send_request(
                    "k-4",
                    channel=channel_pb2.CHANNEL_SMS,
                    template=saved.name,
                    content=message_content_pb2.MessageContent(),
                )
            outcomes[key] = await final(stub, (await stub.SendMessage(request)).name)
    assert outcomes["fits"].state == pb.MESSAGE_STATE_SENT
    for key, units in (("too-long", 307), ("with-notice", 329), ("template", 423)):
        message = outcomes[key]
        assert message.state == pb.MESSAGE_STATE_FAILED, key
        assert message.failure_reason == "SMS_TOO_LONG"
        assert message.failure_detail == (
            f"the SMS takes 3 segments ({units} septets, GSM_7); at most 2 are sent"
        )
    assert bodies(api.received) == [ten]


async def test_an_inline_sms_already_too_long_is_refused_when_accepted(
    make_settings: Any, stand_ins: Any, reachable: None
) -> None:
    api = await stand_ins(default=twilio_created)
    settings = make_settings(
        sms_providers=[sms("sms", api.url)], max_sms_segments=2, dispatcher_enabled=False
    )
    ten = "x" * 306  # two segments exactly
    refused = [
        text(ten + "x", "k-1", purpose="transactional"),
        # The opt-out notice a marketing SMS gets takes it over.
        text(ten, "k-2"),
        # UCS-2 (the emoji): 136 code units, in segments of 67 at most.
        text("é" * 134 + "🎉", "k-3", purpose="transactional"),
    ]
    accepted = [
        # Markup: what it renders to is known only at send (a condition, a variable).
        text("{% if false %}" + ten + "x{% endif %}", "k-4", purpose="transactional"),
        text("{{ 'x' }}" + ten, "k-5", purpose="transactional"),
        # Its line breaks render as LF: 300 + 4 septets, not 308.
        text("x" * 300 + "\r\n" * 4, "k-6", purpose="transactional"),
        # Already says how to opt out: no notice added, two segments.
        text("x" * 284 + " Reply STOP to opt out", "k-7"),
        # Transactional: no notice.
        text(ten, "k-8", purpose="transactional"),
    ]
    async with delivery(settings) as stub:
        for request in refused:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.SendMessage(request)
            assert_refused(err.value, "INVALID_ARGUMENT", "SMS_TOO_LONG", "content.text_body")
            assert "3 segments" in err.value.details() and "at most 2" in err.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.BatchSendMessages(
                pb.BatchSendMessagesRequest(parent=PARENT, requests=[accepted[0], refused[1]])
            )
        assert_refused(
            err.value, "INVALID_ARGUMENT", "SMS_TOO_LONG", "requests[1].content.text_body"
        )
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent=PARENT))
        assert list(listed.messages) == []
        for request in accepted:
            assert (await stub.SendMessage(request)).state == pb.MESSAGE_STATE_QUEUED
        # A best-channel message is not refused: another candidate may carry it.
        best = text(ten + "x", "k-9")
        best.channel, best.best_channel = channel_pb2.CHANNEL_UNSPECIFIED, True
        best.candidate_channels.extend([channel_pb2.CHANNEL_SMS, channel_pb2.CHANNEL_EMAIL])
        assert (await stub.SendMessage(best)).state == pb.MESSAGE_STATE_QUEUED


@pytest.mark.parametrize("limit", [0, 256])
def test_a_segment_limit_no_sms_can_have_stops_the_start_up(make_settings: Any, limit: int) -> None:
    with pytest.raises(ValidationError, match="max_sms_segments must be between 1 and 255"):
        make_settings(max_sms_segments=limit)
