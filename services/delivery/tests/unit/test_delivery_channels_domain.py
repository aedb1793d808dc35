"""Per-channel rules without I/O: addresses, required content, webhook signatures."""

from __future__ import annotations

import pytest
from rapport.delivery.adapters.webhook_provider import decode_secret, sign
from rapport.delivery.domain.addressing import Addressing, phone_number, push_token
from rapport.delivery.domain.model import Channel, FailureReason, MessageContent
from rapport.delivery.domain.validation import validate_content, validate_data_for_channel
from rapport.errors import InvalidArgument


def test_the_standard_webhooks_published_signature() -> None:
    # The example of the Standard Webhooks reference library's tests (test_sign_function).
    key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_not base64!",
        "whsec_" + "QUJD",  # 3 bytes: too short to be a key
        "whsec_" + "QUFB" * 30,  # 90 bytes: over the spec's maximum
    ],
)
def test_bad_webhook_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        decode_secret(secret)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        (" +1 (650) 253-0000 ", "+16502530000"),
        ("020 7946 0958", FailureReason.INVALID_ADDRESS),  # no country code, no default region
        ("+44 12", FailureReason.INVALID_ADDRESS),
        ("call me", FailureReason.INVALID_ADDRESS),
        ("", FailureReason.NO_ADDRESS),
        (42, FailureReason.NO_ADDRESS),
    ],
)
def test_phone_numbers_become_e164(value: object, expected: object) -> None:
    assert phone_number({"phone": value}) == expected


def test_a_default_region_reads_national_numbers() -> None:
    assert phone_number({"mobile": "020 7946 0958"}, "mobile", "GB") == "+442079460958"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fcm-token:APA91b", "fcm-token:APA91b"),
        ("two words", FailureReason.INVALID_ADDRESS),
        ("x" * 5000, FailureReason.INVALID_ADDRESS),
        (None, FailureReason.NO_ADDRESS),
    ],
)
def test_push_tokens(value: object, expected: object) -> None:
    assert push_token({"push_token": value}) == expected


def test_each_channel_reads_its_own_address() -> None:
    addressing = Addressing(
        email_trait="work_email",
        phone_trait="mobile",
        push_token_trait="device",
        webhook_urls={"default": "https://hooks.example.com/rapport"},
    )
    traits = {"work_email": "ada@example.com", "mobile": "+447911123456", "device": "tok"}

    def to(channel: Channel, workspace: str = "default") -> object:
        return addressing.recipient(
            channel, traits, workspace=workspace, customer="workspaces/default/customers/c1"
        )

    assert to(Channel.EMAIL) == "ada@example.com"
    assert to(Channel.SMS) == "+447911123456"
    assert to(Channel.PUSH) == "tok"
    assert to(Channel.WEBHOOK) == "https://hooks.example.com/rapport"
    assert to(Channel.WEBHOOK, "brand-b") is FailureReason.NO_ADDRESS
    assert to(Channel.IN_APP) == "workspaces/default/customers/c1"
    assert (
        addressing.recipient(
            Channel.SMS, {"phone": "+447911123456"}, workspace="default", customer="c"
        )
        is FailureReason.NO_ADDRESS
    )  # the configured trait, not `phone`


@pytest.mark.parametrize(
    ("channel", "content", "field"),
    [
        (Channel.SMS, MessageContent("subject only", ""), "content.text_body"),
        (Channel.PUSH, MessageContent("title", "  "), "content.text_body"),
        (Channel.IN_APP, MessageContent("", "", "<p>html only</p>"), "content.text_body"),
        (Channel.EMAIL, MessageContent("", "body"), "content.subject"),
    ],
)
def test_each_channel_requires_its_content(
    channel: Channel, content: MessageContent, field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_content(content, channel)
    assert caught.value.field == field


def test_what_channels_accept() -> None:
    validate_content(MessageContent("", "text"), Channel.SMS)
    validate_content(MessageContent("", "text"), Channel.PUSH)
    validate_content(MessageContent("", ""), Channel.WEBHOOK)  # the data alone may do
    validate_content(MessageContent("", "text"), Channel.IN_APP)


@pytest.mark.parametrize("key", ["from", "notification", "message_type", "google.x", "gcm_y"])
def test_push_data_keys_the_providers_reserve(key: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_data_for_channel({key: "v"}, Channel.PUSH)
    assert caught.value.field == f"data.{key}"
    validate_data_for_channel({key: "v"}, Channel.WEBHOOK)  # only push providers care
