"""The real outbound adapters against small fake gRPC servers and a real SMTP server."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from rapport.delivery.adapters.consent_client import GrpcConsentClient
from rapport.delivery.adapters.email_provider import SmtpEmailProvider
from rapport.delivery.adapters.profile_client import GrpcProfileClient, ProfileNotFound
from rapport.delivery.adapters.providers import (
    OutgoingMessage,
    ProviderRejectedError,
    ProviderTransientError,
)
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.domain.consent import ConsentAnswer
from rapport.delivery.domain.model import Channel
from rapport.delivery.settings import DeliverySettings
from rapport.grpcclients import open_channel
from rapport.type.v1 import channel_pb2

CUSTOMER = "workspaces/default/customers/c0ffee"


async def test_profile_client(upstreams: Any) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "a@b.com", "age": 42, "tags": ["x"]}
    async with open_channel(upstreams.address, DeliverySettings()) as channel:
        client = GrpcProfileClient(channel)
        profile = await client.get_profile(CUSTOMER)
        assert profile.traits == {"email": "a@b.com", "age": 42, "tags": ["x"]}
        with pytest.raises(ProfileNotFound):
            await client.get_profile("workspaces/default/customers/unknown")
        upstreams.profile.traits[CUSTOMER]["score"] = struct_pb2.Value(number_value=float("nan"))
        with pytest.raises(UpstreamUnreadable) as unreadable:
            await client.get_profile(CUSTOMER)
        assert unreadable.value.field == "traits.score.value"
        upstreams.profile.unavailable = True
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.get_profile(CUSTOMER)
        assert caught.value.reason == ""  # a bare status: no ErrorInfo
        upstreams.profile.unavailable_reason = "SHUTTING_DOWN"
        with pytest.raises(UpstreamUnavailable) as detailed:
            await client.get_profile(CUSTOMER)
    assert caught.value.code == "UNAVAILABLE"
    assert (detailed.value.code, detailed.value.reason) == ("UNAVAILABLE", "SHUTTING_DOWN")


async def test_consent_client(upstreams: Any) -> None:
    upstreams.consent.grant(CUSTOMER, "renewals")
    async with open_channel(upstreams.address, DeliverySettings()) as channel:
        client = GrpcConsentClient(channel)
        assert await client.check(CUSTOMER, "renewals", Channel.EMAIL) is ConsentAnswer.GRANTED
        assert await client.check(CUSTOMER, "marketing", Channel.EMAIL) is ConsentAnswer.NO_RECORD
        assert await client.check(CUSTOMER, "renewals", Channel.SMS) is ConsentAnswer.NO_RECORD
        upstreams.consent.grant(
            CUSTOMER, "renewals", allowed=False, channel=channel_pb2.CHANNEL_SMS
        )
        assert await client.check(CUSTOMER, "renewals", Channel.SMS) is ConsentAnswer.DENIED
        upstreams.consent.unavailable = True
        with pytest.raises(UpstreamUnavailable):
            await client.check(CUSTOMER, "renewals", Channel.EMAIL)


def provider(port: int) -> SmtpEmailProvider:
    return SmtpEmailProvider(
        host="127.0.0.1",
        port=port,
        email_from="Rapport <no-reply@rapport.local>",
        timeout_seconds=2,
    )


MAIL = OutgoingMessage(
    to="a@example.com", subject="Café ünïcode", text_body="héllo", html_body="<p>x</p>"
)


async def test_smtp_provider_sends_encoded_mail(smtp: Any) -> None:
    message_id = await provider(smtp.port).send(MAIL)
    [(recipients, mail)] = smtp.received
    assert recipients == ["a@example.com"]
    assert mail["Message-ID"] == message_id and message_id.endswith("@rapport.local>")
    assert mail["Subject"] == "Café ünïcode"
    assert mail.get_body(("plain",)).get_content().strip() == "héllo"


async def test_smtp_provider_classifies_failures(smtp_sink: Any) -> None:
    with pytest.raises(ProviderTransientError):  # nothing listening yet
        await provider(smtp_sink.port).send(MAIL)
    smtp_sink.start()
    smtp_sink.reply = "451 4.3.0 try later"
    with pytest.raises(ProviderTransientError):
        await provider(smtp_sink.port).send(MAIL)
    smtp_sink.reply = "550 5.1.1 no such user"
    with pytest.raises(ProviderRejectedError):
        await provider(smtp_sink.port).send(MAIL)
