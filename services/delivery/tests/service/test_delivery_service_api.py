"""DeliveryService through the real gRPC server: bad input, reads, listing, scopes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.delivery.bootstrap import METHOD_SCOPES, SERVICE_NAME
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import status_details
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, assert_refused, delivery, send_request

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
        (
            {"channel": channel_pb2.CHANNEL_UNSPECIFIED},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "channel",
        ),
        ({"channel": 42}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "channel"),
        # Nothing is sent on the inbound channel.
        (
            {"channel": channel_pb2.CHANNEL_INBOUND},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "channel",
        ),
        # The field path names the value (it used to name only `data`).
        (
            {"data": struct_pb2.Struct(fields={"x": struct_pb2.Value(number_value=float("nan"))})},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "data.x",
        ),
        (
            {"content": message_content_pb2.MessageContent(text_body="body")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.subject",
        ),
        (
            {"content": message_content_pb2.MessageContent(subject="s")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.text_body",
        ),
        (
            {"content": message_content_pb2.MessageContent(subject="{{ oops", text_body="b")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.subject",
        ),
        (
            {"content": message_content_pb2.MessageContent(subject="s", text_body="{% if %}")},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.text_body",
        ),
        (
            {
                "content": message_content_pb2.MessageContent(
                    subject="s", text_body="b", html_body="{% for %}"
                )
            },
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "content.html_body",
        ),
        (
            {"channel": channel_pb2.CHANNEL_SMS},
            "FAILED_PRECONDITION",
            "CHANNEL_NOT_CONFIGURED",
            None,
        ),
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
    assert_refused(caught.value, code, reason, field)
    assert list(listed.messages) == []


async def test_get_message_errors(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        for name, code in [
            ("workspaces/default/messages/nope", grpc.StatusCode.NOT_FOUND),
            ("workspaces/other/messages/nope", grpc.StatusCode.NOT_FOUND),
            ("messages/nope", grpc.StatusCode.INVALID_ARGUMENT),
            ("workspaces/default/messages/Nope", grpc.StatusCode.INVALID_ARGUMENT),
            ("", grpc.StatusCode.INVALID_ARGUMENT),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMessage(pb.GetMessageRequest(name=name))
            assert caught.value.code() == code, name
            info, bad_request = status_details(caught.value)
            assert info is not None and info.domain == "delivery.rapport.dev"
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                assert bad_request is not None
                assert [v.field for v in bad_request.field_violations] == ["name"]
            else:
                assert info.metadata["resource"] in (name, "workspaces/other")


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


def test_every_rpc_has_a_scope() -> None:
    # Authorization is default-deny: an RPC without a scope would be refused.
    service = pb.DESCRIPTOR.services_by_name["DeliveryService"]
    assert set(METHOD_SCOPES) == {f"/{SERVICE_NAME}/{m.name}" for m in service.methods}
    assert METHOD_SCOPES[f"/{SERVICE_NAME}/GetMessage"] == "delivery.read"
    assert METHOD_SCOPES[f"/{SERVICE_NAME}/ListMessages"] == "delivery.read"


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
