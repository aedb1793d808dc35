"""The SMS, push and webhook adapters against stand-in HTTP servers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from rapport.delivery.adapters.http_provider import new_client
from rapport.delivery.adapters.providers import (
    OutgoingMessage,
    ProviderOutcomeUnknown,
    ProviderRejectedError,
    ProviderUnavailable,
)
from rapport.delivery.adapters.push_provider import FcmPushProvider
from rapport.delivery.adapters.sms_provider import TwilioSmsProvider
from rapport.delivery.adapters.webhook_provider import WebhookProvider
from rapport.delivery.domain.model import Channel

from .._delivery_support import free_port_url
from .._stand_in import Received, Reply

MESSAGE = "workspaces/default/messages/0123abcd"
SMS = OutgoingMessage(
    to="+447700900123",
    subject="ignored",
    text_body="Your code is 1234",
    channel=Channel.SMS,
    message_name=MESSAGE,
    idempotency_key="0123abcd",
)
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def sms_provider(url: str, *, timeout: float = 2.0) -> TwilioSmsProvider:
    return TwilioSmsProvider(
        name="sms",
        client=new_client(timeout_seconds=timeout, max_connections=4),
        base_url=url,
        account_sid="AC123",
        auth_token="t0ken",
        from_number="+15005550006",
    )


def twilio_created(request: Received) -> Reply:
    return Reply(201, {"sid": "SM" + "f" * 32, "status": "queued"})


async def test_sms_is_a_form_post_with_basic_auth_and_an_idempotency_key(stand_ins: Any) -> None:
    api = await stand_ins(default=twilio_created)
    provider = sms_provider(api.url)
    try:
        sid = await provider.send(SMS)
    finally:
        await provider.close()
    [request] = api.received
    assert sid == "SM" + "f" * 32
    assert request.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "To": ["+447700900123"],
        "Body": ["Your code is 1234"],
        "From": ["+15005550006"],
    }
    expected_auth = "Basic " + base64.b64encode(b"AC123:t0ken").decode()
    assert request.headers["authorization"] == expected_auth
    assert request.headers["idempotency-key"] == "0123abcd"


@pytest.mark.parametrize(
    ("reply", "error", "proves"),
    [
        (
            Reply(400, {"code": 21211, "message": "The 'To' number +44... is not valid"}),
            ProviderRejectedError,
            True,
        ),
        (Reply(400, {"code": 21610, "status": 400}), ProviderRejectedError, True),
        (Reply(401, {"code": 20003, "status": 401}), ProviderUnavailable, True),
        (Reply(429, {"code": 20429, "status": 429}), ProviderUnavailable, False),
        (Reply(503), ProviderUnavailable, False),
        (Reply(302), ProviderUnavailable, False),
        (Reply(409, {"code": 0}), ProviderOutcomeUnknown, False),
    ],
)
async def test_sms_errors_are_classified(
    stand_ins: Any, reply: Reply, error: type[Exception], proves: bool
) -> None:
    api = await stand_ins(script=[reply])
    provider = sms_provider(api.url)
    try:
        with pytest.raises(error) as caught:
            await provider.send(SMS)
    finally:
        await provider.close()
    assert getattr(caught.value, "proves_not_taken", False) is proves
    # The provider's text may quote the number: only codes are kept.
    assert "+44" not in str(caught.value)


async def test_sms_unreachable_and_silent_providers(stand_ins: Any) -> None:
    refused = sms_provider(free_port_url())
    with pytest.raises(ProviderUnavailable) as unreachable:
        await refused.send(SMS)
    await refused.close()
    assert unreachable.value.proves_not_taken is False  # says nothing of an earlier request
    slow = await stand_ins(script=[Reply(201, {"sid": "SMx"}, delay=2.0)])
    provider = sms_provider(slow.url, timeout=0.3)
    try:
        with pytest.raises(ProviderOutcomeUnknown):
            await provider.send(SMS)
    finally:
        await provider.close()
    assert len(slow.received) == 1  # it went out: the outcome is unknown, not a failure


PUSH = OutgoingMessage(
    to="device-token-1",
    subject="Renewal",
    text_body="Your policy renews soon",
    html_body="<b>not sent</b>",
    channel=Channel.PUSH,
    message_name=MESSAGE,
    idempotency_key="0123abcd",
    data={"deep_link": "app://renew", "days": 12, "tags": ["a"]},
)


def push_provider(url: str) -> FcmPushProvider:
    return FcmPushProvider(
        name="push",
        client=new_client(timeout_seconds=2, max_connections=4),
        endpoint=url,
        project_id="demo-project",
        access_token="ya29.token",
    )


async def test_push_is_an_fcm_v1_message_with_a_bearer_token(stand_ins: Any) -> None:
    api = await stand_ins(
        default=lambda _: Reply(200, {"name": "projects/demo-project/messages/0:42"})
    )
    provider = push_provider(api.url)
    try:
        name = await provider.send(PUSH)
    finally:
        await provider.close()
    [request] = api.received
    assert name == "projects/demo-project/messages/0:42"
    assert request.path == "/v1/projects/demo-project/messages:send"
    assert request.headers["authorization"] == "Bearer ya29.token"
    assert request.headers["idempotency-key"] == "0123abcd"
    assert request.json() == {
        "message": {
            "token": "device-token-1",
            "notification": {"title": "Renewal", "body": "Your policy renews soon"},
            "data": {
                "deep_link": "app://renew",
                "days": "12",
                "tags": '["a"]',
                "rapport_message": MESSAGE,
            },
        }
    }


def fcm_error(status: int, code: str, error_code: str) -> Reply:
    details = [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
    ]
    return Reply(status, {"error": {"code": status, "status": code, "details": details}})


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (fcm_error(404, "NOT_FOUND", "UNREGISTERED"), ProviderRejectedError),
        (fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), ProviderRejectedError),
        (fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), ProviderRejectedError),
        (fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), ProviderUnavailable),
        (fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), ProviderUnavailable),
        (fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), ProviderUnavailable),
        (Reply(404, {"error": "not json we know"}), ProviderUnavailable),
    ],
)
async def test_push_errors_are_classified(
    stand_ins: Any, reply: Reply, error: type[Exception]
) -> None:
    api = await stand_ins(script=[reply])
    provider = push_provider(api.url)
    try:
        with pytest.raises(error):
            await provider.send(PUSH)
    finally:
        await provider.close()


WEBHOOK = OutgoingMessage(
    to="",  # set per test: the stand-in's URL
    subject="Renewal due",
    text_body="Policy P-1 renews",
    channel=Channel.WEBHOOK,
    message_name=MESSAGE,
    idempotency_key="0123abcd",
    workspace="default",
    customer="workspaces/default/customers/c1",
    purpose="service",
    source="workspaces/default/triggers/t",
    data={"policy": "P-1"},
    create_time=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
)


def webhook_provider(now: datetime) -> WebhookProvider:
    return WebhookProvider(
        client=new_client(timeout_seconds=2, max_connections=4),
        secrets={"default": SECRET},
        clock=lambda: now,
    )


async def test_webhooks_are_signed_per_standard_webhooks(stand_ins: Any) -> None:
    receiver = await stand_ins(default=lambda _: Reply(204))
    now = datetime(2030, 1, 2, 3, 4, 9, tzinfo=UTC)
    provider = webhook_provider(now)
    outgoing = OutgoingMessage(**{**WEBHOOK.__dict__, "to": receiver.url + "/hooks/rapport"})
    try:
        webhook_id = await provider.send(outgoing)
    finally:
        await provider.close()
    [request] = receiver.received
    assert request.path == "/hooks/rapport"
    assert webhook_id == request.headers["webhook-id"] == "0123abcd"
    timestamp = request.headers["webhook-timestamp"]
    assert timestamp == str(int(now.timestamp()))
    # Verified the way a receiver does: HMAC-SHA256 over "id.timestamp.body" as received.
    signed = f"0123abcd.{timestamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(b"k" * 32, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "type": "message.sent",
        "timestamp": "2030-01-02T03:04:05Z",
        "data": {
            "message": MESSAGE,
            "customer": "workspaces/default/customers/c1",
            "purpose": "service",
            "source": "workspaces/default/triggers/t",
            "subject": "Renewal due",
            "text_body": "Policy P-1 renews",
            "data": {"policy": "P-1"},
        },
    }


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(410), ProviderRejectedError),  # the receiver wants no more
        (Reply(400), ProviderRejectedError),
        (Reply(500), ProviderUnavailable),
        (Reply(504), ProviderUnavailable),
        (Reply(301), ProviderUnavailable),  # redirects are not followed
    ],
)
async def test_webhook_errors_are_classified(
    stand_ins: Any, reply: Reply, error: type[Exception]
) -> None:
    receiver = await stand_ins(script=[reply])
    provider = webhook_provider(datetime.now(UTC))
    try:
        with pytest.raises(error):
            await provider.send(OutgoingMessage(**{**WEBHOOK.__dict__, "to": receiver.url}))
    finally:
        await provider.close()


async def test_a_webhook_for_a_workspace_without_secret_is_not_sent(stand_ins: Any) -> None:
    receiver = await stand_ins()
    provider = webhook_provider(datetime.now(UTC))
    outgoing = OutgoingMessage(**{**WEBHOOK.__dict__, "to": receiver.url, "workspace": "other"})
    try:
        with pytest.raises(ProviderUnavailable):
            await provider.send(outgoing)
    finally:
        await provider.close()
    assert receiver.received == []


@pytest.mark.parametrize("url", ["http://[bad", "ftp://127.0.0.1/hook", "not a url"])
async def test_a_webhook_to_a_url_no_request_can_go_to_is_unavailable(url: str) -> None:
    provider = webhook_provider(datetime.now(UTC))
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.send(OutgoingMessage(**{**WEBHOOK.__dict__, "to": url}))
    finally:
        await provider.close()
    assert caught.value.proves_not_taken is False
