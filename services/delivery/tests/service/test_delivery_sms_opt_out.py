"""The opt-out notice of marketing SMS, through the real gRPC server and a Twilio-style
stand-in: appended unless the text already says how to opt out, per workspace, never
on transactional SMS."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
from google.protobuf import struct_pb2
from pydantic import ValidationError
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, delivery, send_request
from .._stand_in import Received
from .test_delivery_channels import final, sms, twilio_created

ACME_CUSTOMER = "workspaces/acme/customers/c0ffee"
TRAITS = {"phone": "+44 7911 123456", "first_name": "Ada"}


@pytest.fixture
def reachable(upstreams: Any) -> None:
    for customer in (CUSTOMER, ACME_CUSTOMER):
        upstreams.profile.traits[customer] = dict(TRAITS)
        upstreams.consent.grant(customer, channel=channel_pb2.CHANNEL_SMS)


def text(body: str, key: str, **overrides: Any) -> pb.SendMessageRequest:
    content = message_content_pb2.MessageContent(text_body=body)
    return send_request(key, channel=channel_pb2.CHANNEL_SMS, content=content, **overrides)


def bodies(received: list[Received]) -> list[str]:
    return [parse_qs(request.body.decode())["Body"][0] for request in received]


async def sent_bodies(settings: Any, api: Any, requests: list[pb.SendMessageRequest]) -> list[str]:
    async with delivery(settings) as stub:
        for request in requests:
            message = await final(stub, (await stub.SendMessage(request)).name)
            assert message.state == pb.MESSAGE_STATE_SENT, message
    by_key = {r.headers["idempotency-key"]: r for r in api.received}
    assert len(by_key) == len(requests)
    return bodies(list(api.received))


async def test_a_marketing_sms_gets_the_notice_unless_it_says_how_to_opt_out(
    make_settings: Any, stand_ins: Any, reachable: None
) -> None:
    api = await stand_ins(default=twilio_created)
    settings = make_settings(sms_providers=[sms("sms", api.url)])
    sent = await sent_bodies(
        settings,
        api,
        [
            text("Hi {{ traits.first_name }}: {{ data.offer }}  ", "k-1"),
            text("Hi {{ traits.first_name }}: {{ data.offer }}. Reply STOP to opt out", "k-2"),
            text("{{ data.offer }} today. Msg&data rates may apply, text stop to end", "k-3"),
            # Ordinary prose with a stop word is no instruction: the notice still comes.
            text("Stop by our store: {{ data.offer }} until the end of May", "k-4"),
            text("Your code is 1234", "k-5", purpose="transactional"),
        ],
    )
    assert sent == [
        "Hi Ada: 10% off\nReply STOP to opt out.",
        "Hi Ada: 10% off. Reply STOP to opt out",
        "10% off today. Msg&data rates may apply, text stop to end",
        "Stop by our store: 10% off until the end of May\nReply STOP to opt out.",
        "Your code is 1234",
    ]


async def test_a_saved_templates_sms_body_gets_the_notice_once(
    make_settings: Any, stand_ins: Any, reachable: None
) -> None:
    api = await stand_ins(default=twilio_created)
    settings = make_settings(sms_providers=[sms("sms", api.url)])
    async with delivery(settings) as stub:
        for template_id, sms_body in (
            ("plain", "Sale: {{ data.offer }}"),
            ("own", "Sale. Text END to quit"),
        ):
            await stub.CreateTemplate(
                pb.CreateTemplateRequest(
                    parent="workspaces/default",
                    template_id=template_id,
                    template=pb.Template(
                        default_locale="en",
                        contents={
                            "en": pb.TemplateContent(
                                subject="Sale", text_body="Sale", sms_body=sms_body
                            )
                        },
                        sample_data=struct_pb2.Struct(
                            fields={"offer": struct_pb2.Value(string_value="5% off")}
                        ),
                    ),
                )
            )
        for key, template_id in (("k-1", "plain"), ("k-2", "own")):
            request = send_request(
                key,
                channel=channel_pb2.CHANNEL_SMS,
                template=f"workspaces/default/templates/{template_id}",
                content=message_content_pb2.MessageContent(),
            )
            message = await final(stub, (await stub.SendMessage(request)).name)
            assert message.state == pb.MESSAGE_STATE_SENT, message
    assert bodies(api.received) == [
        "Sale: 10% off\nReply STOP to opt out.",
        "Sale. Text END to quit",
    ]


async def test_the_notice_per_workspace(
    make_settings: Any, stand_ins: Any, reachable: None
) -> None:
    api = await stand_ins(default=twilio_created)
    settings = make_settings(
        sms_providers=[sms("sms", api.url)],
        workspaces=["default", "acme"],
        sms_opt_out={"*": {"enabled": False}, "acme": {"text": "Txt STOP to end msgs"}},
    )
    sent = await sent_bodies(
        settings,
        api,
        [
            text("Hi {{ traits.first_name }}", "k-1"),
            text(
                "Hi {{ traits.first_name }}",
                "k-2",
                parent="workspaces/acme",
                customer=ACME_CUSTOMER,
            ),
        ],
    )
    assert sent == ["Hi Ada", "Hi Ada\nTxt STOP to end msgs"]


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ({"acme": {}}, "sms_opt_out names workspaces not served here"),
        ({"*": {"text": "Opt out at example.com"}}, "must tell how to opt out"),
        ({"*": {"text": ""}}, "must not be empty"),
        ({"*": {"enable": False}}, "enable"),
    ],
)
def test_bad_notice_settings_stop_the_start_up(
    make_settings: Any, setting: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        make_settings(sms_opt_out=setting)


def test_good_notice_settings(make_settings: Any) -> None:
    served = make_settings(workspaces=["default", "acme"], sms_opt_out={"acme": {"enabled": False}})
    assert served.sms_opt_out["acme"].notice == ""
    assert make_settings(sms_opt_out={"*": {}}).sms_opt_out["*"].notice == "Reply STOP to opt out."
