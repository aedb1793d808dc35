"""`make run`'s SMS, push and webhook stand-ins, driven by delivery's real provider adapters
configured exactly as `make run` configures them: what they receive lands in files."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.bootstrap import build_providers
from rapport.delivery.domain.model import Channel
from rapport.delivery.settings import DeliverySettings
from rapport.localsuite.provider_sinks import (
    ProviderSinks,
    new_webhook_secret,
    signature_matches,
)
from rapport.sqlstore import create_engine


def outgoing(channel: Channel, to: str, key: str) -> OutgoingMessage:
    return OutgoingMessage(
        to=to,
        subject="Your renewal",
        text_body="Policy HOME-0042 renews soon",
        channel=channel,
        message_name=f"workspaces/default/messages/{key}",
        idempotency_key=key,
        workspace="default",
        customer="workspaces/default/customers/c1",
        purpose="marketing",
        data={"policy": "HOME-0042"},
    )


async def test_every_stand_in_saves_what_delivery_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sinks = ProviderSinks(tmp_path, webhook_secret=new_webhook_secret())
    await sinks.start()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    try:
        for variable, value in sinks.delivery_environment().items():
            monkeypatch.setenv(variable, value)
        settings = DeliverySettings(data_dir=tmp_path, in_app_enabled=False)
        providers = build_providers(settings, engine)
        [sms], [push], [webhook] = (
            providers[c] for c in (Channel.SMS, Channel.PUSH, Channel.WEBHOOK)
        )
        sid = await sms.send(outgoing(Channel.SMS, "+447911123456", "m1"))
        again = await sms.send(outgoing(Channel.SMS, "+447911123456", "m1"))  # a keyed repeat
        name = await push.send(outgoing(Channel.PUSH, "device-token", "m2"))
        webhook_url = settings.webhook_endpoints["default"].url
        await webhook.send(outgoing(Channel.WEBHOOK, webhook_url, "m3"))
        for chain in providers.values():
            for provider in chain:
                await provider.close()
    finally:
        await sinks.stop()
        await engine.dispose()

    [text] = sinks.saved("sms")
    assert sid == again == text["sid"]  # the repeat was answered, not saved again
    assert (text["To"], text["Body"], text["idempotency_key"]) == (
        "+447911123456",
        "Policy HOME-0042 renews soon",
        "m1",
    )
    [notification] = sinks.saved("push")
    assert notification["name"] == name
    assert notification["message"]["token"] == "device-token"
    assert notification["message"]["notification"]["title"] == "Your renewal"
    [hook] = sinks.saved("webhooks")
    assert hook["signature_valid"] is True
    assert hook["headers"]["webhook-id"] == "m3"
    assert hook["body"]["data"]["message"] == "workspaces/default/messages/m3"


def test_a_tampered_webhook_fails_the_signature_check() -> None:
    secret = new_webhook_secret()
    sinks_headers = {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    assert signature_matches(secret, sinks_headers, b"{}") is False
