"""Odd values through the gRPC stub, one class at a time: always a client error naming the
field (never INTERNAL or UNKNOWN), and nothing changes."""

from __future__ import annotations

import base64
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.delivery.domain.validation import (
    MAX_BODY_LENGTH,
    MAX_DATA_BYTES,
    MAX_SUBJECT_LENGTH,
)
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import expect_error
from rapport.pagination import PageTokens
from rapport.type.v1 import message_content_pb2

from .._delivery_support import CUSTOMER, delivery, nested_lists, nested_structs, send_request

DOMAIN = "delivery.rapport.dev"
PARENT = "workspaces/default"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
HUGE = "x" * 100_000


async def refused_and_nothing_changed(
    stub: pb_grpc.DeliveryServiceStub, request: pb.SendMessageRequest, field: str
) -> None:
    await expect_error(stub.SendMessage(request), INVALID, domain=DOMAIN, field=field)
    listed = await stub.ListMessages(pb.ListMessagesRequest(parent=PARENT))
    assert list(listed.messages) == []


def data(**values: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, value in values.items():
        struct.fields[key].CopyFrom(value)
    return struct


def number(value: float) -> struct_pb2.Value:
    return struct_pb2.Value(number_value=value)


# --- SendMessage ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
async def test_send_non_finite_numbers_in_data(make_settings: Any, value: float) -> None:
    nested = struct_pb2.Value()
    nested.struct_value.fields["prices"].list_value.values.add(number_value=value)
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await refused_and_nothing_changed(
            stub, send_request(data=data(offer=nested)), "data.offer.prices[0]"
        )
        await refused_and_nothing_changed(
            stub, send_request(data=data(**{"odd key": number(value)})), "data.`odd key`"
        )


async def test_send_extreme_but_finite_numbers_are_accepted(make_settings: Any) -> None:
    extremes = data(big=number(1.7976931348623157e308), tiny=number(5e-324), neg=number(-(2**60)))
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        accepted = await stub.SendMessage(send_request(data=extremes))
    assert accepted.state == pb.MESSAGE_STATE_QUEUED


async def test_send_deep_data(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        # 33 levels: refused by the converter, naming the innermost Struct's path.
        await refused_and_nothing_changed(
            stub, send_request(data=nested_structs(33)), "data" + ".a" * 32
        )
        await refused_and_nothing_changed(
            stub, send_request(data=data(l=nested_lists(40))), "data.l" + "[0]" * 31
        )
        # Far deeper: the request itself does not decode (the runtime's MALFORMED_REQUEST).
        info, _ = await expect_error(
            stub.SendMessage(send_request(data=nested_structs(200))), INVALID, domain=DOMAIN
        )
        assert info.reason == "MALFORMED_REQUEST"
        # 32 levels are fine.
        accepted = await stub.SendMessage(send_request("deep", data=nested_structs(32)))
    assert accepted.state == pb.MESSAGE_STATE_QUEUED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"data": data(big=struct_pb2.Value(string_value="x" * MAX_DATA_BYTES))}, "data"),
        (
            {
                "content": message_content_pb2.MessageContent(
                    subject="s" * (MAX_SUBJECT_LENGTH + 1), text_body="b"
                )
            },
            "content.subject",
        ),
        (
            {
                "content": message_content_pb2.MessageContent(
                    subject="s", text_body="b" * (MAX_BODY_LENGTH + 1)
                )
            },
            "content.text_body",
        ),
        (
            {
                "content": message_content_pb2.MessageContent(
                    subject="s", text_body="b", html_body="h" * (MAX_BODY_LENGTH + 1)
                )
            },
            "content.html_body",
        ),
        ({"idempotency_key": HUGE}, "idempotency_key"),
        ({"source": HUGE}, "source"),
        ({"purpose": HUGE}, "purpose"),
        ({"customer": f"workspaces/default/customers/{HUGE}"}, "customer"),
        ({"parent": f"workspaces/{HUGE}"}, "parent"),
    ],
)
async def test_send_huge_strings(make_settings: Any, overrides: dict[str, Any], field: str) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await refused_and_nothing_changed(stub, send_request(**overrides), field)


@pytest.mark.parametrize("channel", [7, 42, 2**31 - 1, -1, -(2**31)])
async def test_send_unknown_channel_numbers(make_settings: Any, channel: int) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await refused_and_nothing_changed(stub, send_request(channel=channel), "channel")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"parent": ""}, "parent"),
        ({"parent": "workspaces/"}, "parent"),
        ({"parent": "workspaces/default/"}, "parent"),
        ({"parent": "workspaces/Default"}, "parent"),
        ({"parent": "workspaces/défaut"}, "parent"),
        ({"parent": "workspaces/default\n"}, "parent"),
        ({"customer": "workspaces/default/customers/"}, "customer"),
        ({"customer": "workspaces/default/customers/c0ffee/x"}, "customer"),
        ({"customer": "workspaces/default/customers/../c0ffee"}, "customer"),
        ({"customer": "workspaces/default/customers/c0ffee\x00"}, "customer"),
        ({"customer": "c0ffee"}, "customer"),
    ],
)
async def test_send_odd_names(make_settings: Any, overrides: dict[str, Any], field: str) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await refused_and_nothing_changed(stub, send_request(**overrides), field)


# --- GetMessage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "workspaces/default/messages/",
        "workspaces/default/messages/a/b",
        "workspaces/default/messages/ÿ",
        f"workspaces/default/messages/{HUGE}",
        "workspaces/default/customers/c0ffee",
        "/workspaces/default/messages/m1",
    ],
)
async def test_get_odd_names(make_settings: Any, name: str) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await expect_error(
            stub.GetMessage(pb.GetMessageRequest(name=name)), INVALID, domain=DOMAIN, field="name"
        )


# --- ListMessages --------------------------------------------------------------------------


async def test_list_page_sizes_at_the_int32_limits(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await stub.SendMessage(send_request())
        largest = await stub.ListMessages(
            pb.ListMessagesRequest(parent=PARENT, page_size=2**31 - 1)
        )
        assert len(largest.messages) == 1 and largest.next_page_token == ""
        await expect_error(
            stub.ListMessages(pb.ListMessagesRequest(parent=PARENT, page_size=-(2**31))),
            INVALID,
            domain=DOMAIN,
            field="page_size",
        )


async def test_list_odd_page_tokens(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        for i in range(3):
            await stub.SendMessage(send_request(f"k{i}"))
        first = await stub.ListMessages(pb.ListMessagesRequest(parent=PARENT, page_size=1))
        token = first.next_page_token
        assert token
        # The token holds no readable position, and any change to it is noticed.
        # (Long markers only: a short one can turn up in ciphertext by chance.)
        message_id = first.messages[0].name.rsplit("/", 1)[1]
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert message_id not in token and message_id.encode() not in raw
        flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        another_key = PageTokens("another deployment").encode(
            {"t": "2030-01-01T00:00:00+00:00", "id": "m"}, bound_to=f"ListMessages|{PARENT}|"
        )
        for odd in [flipped, token + "x", token[:10], another_key, HUGE, "tøken", "=", "\x00"]:
            await expect_error(
                stub.ListMessages(
                    pb.ListMessagesRequest(parent=PARENT, page_size=1, page_token=odd)
                ),
                INVALID,
                domain=DOMAIN,
                field="page_token",
            )
        # The real token still works, with the same parameters only.
        second = await stub.ListMessages(
            pb.ListMessagesRequest(parent=PARENT, page_size=1, page_token=token)
        )
        assert len(second.messages) == 1 and second.messages[0] != first.messages[0]
        await expect_error(
            stub.ListMessages(
                pb.ListMessagesRequest(
                    parent=PARENT, customer=CUSTOMER, page_size=1, page_token=token
                )
            ),
            INVALID,
            domain=DOMAIN,
            field="page_token",
        )


async def test_page_tokens_work_across_replicas_sharing_the_key(make_settings: Any) -> None:
    settings = make_settings(dispatcher_enabled=False, page_token_key="shared secret")
    async with delivery(settings) as first:
        for i in range(2):
            await first.SendMessage(send_request(f"k{i}"))
        page = await first.ListMessages(pb.ListMessagesRequest(parent=PARENT, page_size=1))
    async with delivery(settings) as second:
        rest = await second.ListMessages(
            pb.ListMessagesRequest(parent=PARENT, page_size=1, page_token=page.next_page_token)
        )
    assert len(rest.messages) == 1 and rest.messages[0].name != page.messages[0].name
    other = make_settings(dispatcher_enabled=False, page_token_key="another secret")
    async with delivery(other) as third:
        await expect_error(
            third.ListMessages(
                pb.ListMessagesRequest(parent=PARENT, page_size=1, page_token=page.next_page_token)
            ),
            INVALID,
            field="page_token",
        )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"parent": "workspaces/"}, "parent"),
        ({"parent": f"workspaces/{HUGE}"}, "parent"),
        ({"customer": "workspaces/default/customers/"}, "customer"),
        ({"customer": f"workspaces/default/customers/{HUGE}"}, "customer"),
        ({"customer": "workspaces/default/customers/ÿ"}, "customer"),
    ],
)
async def test_list_odd_names(
    make_settings: Any, request_fields: dict[str, Any], field: str
) -> None:
    values = {"parent": PARENT, **request_fields}
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await expect_error(
            stub.ListMessages(pb.ListMessagesRequest(**values)), INVALID, domain=DOMAIN, field=field
        )


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "sqlite":
        return {}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "database_schema": request.getfixturevalue("pg_schema"),
    }


@pytest.mark.parametrize("part", ["subject", "text_body", "html_body"])
async def test_send_nul_in_content_is_refused_on_every_backend(
    make_settings: Any, database: dict[str, Any], part: str
) -> None:
    """PostgreSQL text cannot hold NUL (it was INTERNAL there); SQLite refuses it alike."""
    content = message_content_pb2.MessageContent(subject="Hi", text_body="b", html_body="<p>h</p>")
    setattr(content, part, getattr(content, part) + "\x00")
    async with delivery(make_settings(dispatcher_enabled=False, **database)) as stub:
        await refused_and_nothing_changed(stub, send_request(content=content), f"content.{part}")
