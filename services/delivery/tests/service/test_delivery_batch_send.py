"""BatchSendMessages through the real gRPC server: all or nothing, each item's idempotency."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from rapport.delivery.bootstrap import METHOD_SCOPES, SERVICE_NAME
from rapport.delivery.domain.validation import MAX_BATCH_SEND
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import eventually, status_details
from rapport.type.v1 import channel_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, assert_refused, delivery, send_request

WORKSPACE = "workspaces/default"


def batch(*requests: pb.SendMessageRequest, parent: str = WORKSPACE) -> pb.BatchSendMessagesRequest:
    return pb.BatchSendMessagesRequest(parent=parent, requests=list(requests))


async def stored(stub: Any) -> list[str]:
    listed = await stub.ListMessages(pb.ListMessagesRequest(parent=WORKSPACE, page_size=1000))
    return sorted(m.idempotency_key for m in listed.messages)


async def test_every_request_is_queued_and_answered_in_order(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        answered = await stub.BatchSendMessages(
            batch(
                send_request("b-1"),
                # An item may leave its parent empty: the batch's.
                send_request("b-2", customer=OTHER_CUSTOMER, parent=""),
                send_request("b-3"),
            )
        )
        keys = await stored(stub)
        got = await stub.GetMessage(pb.GetMessageRequest(name=answered.messages[1].name))
    assert [m.idempotency_key for m in answered.messages] == ["b-1", "b-2", "b-3"]
    assert [m.customer for m in answered.messages] == [CUSTOMER, OTHER_CUSTOMER, CUSTOMER]
    assert all(m.state == pb.MESSAGE_STATE_QUEUED for m in answered.messages)
    assert len({m.name for m in answered.messages}) == 3
    assert keys == ["b-1", "b-2", "b-3"]
    assert got.idempotency_key == "b-2"


async def test_the_dispatcher_sends_what_a_batch_queued(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)
    async with delivery(make_settings()) as stub:
        answered = await stub.BatchSendMessages(batch(send_request("d-1"), send_request("d-2")))

        async def all_sent() -> bool:
            states = [
                (await stub.GetMessage(pb.GetMessageRequest(name=m.name))).state
                for m in answered.messages
            ]
            return states == [pb.MESSAGE_STATE_SENT] * 2

        await eventually(all_sent, timeout=10)
    assert len(smtp.received) == 2


async def test_replays_answer_with_the_message_their_key_made(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        first = await stub.SendMessage(send_request("r-1"))
        answered = await stub.BatchSendMessages(
            batch(
                send_request("r-1"),  # stored before: the same message
                send_request("r-2"),
                send_request("r-2"),  # earlier in this batch: the same message, once
            )
        )
        again = await stub.BatchSendMessages(batch(send_request("r-2"), send_request("r-1")))
        keys = await stored(stub)
    assert answered.messages[0].name == first.name
    assert answered.messages[1].name == answered.messages[2].name
    assert [m.name for m in again.messages] == [answered.messages[1].name, first.name]
    assert keys == ["r-1", "r-2"]


async def test_a_key_reused_with_another_payload_refuses_the_batch(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        await stub.SendMessage(send_request("u-1"))
        for requests in (
            # Stored with another payload.
            (send_request("u-2"), send_request("u-1", purpose="billing")),
            # Earlier in the same batch with another payload.
            (send_request("u-3"), send_request("u-3", customer=OTHER_CUSTOMER)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.BatchSendMessages(batch(*requests))
            assert_refused(caught.value, "FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED", None)
            info, _ = status_details(caught.value)
            assert info is not None and info.metadata["request_index"] == "1"
        # Nothing of either batch was stored (not even their first, fine, request).
        assert await stored(stub) == ["u-1"]


async def test_a_template_not_found_refuses_the_batch(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        missing = send_request("t-2", template=f"{WORKSPACE}/templates/nope")
        missing.ClearField("content")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.BatchSendMessages(batch(send_request("t-1"), missing))
        keys = await stored(stub)
    assert_refused(caught.value, "NOT_FOUND", "NOT_FOUND", None)
    info, _ = status_details(caught.value)
    assert info is not None and info.metadata["request_index"] == "1"
    assert keys == []


@pytest.mark.parametrize(
    ("bad", "code", "reason", "field"),
    [
        ({"customer": ""}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "requests[2].customer"),
        (
            {"idempotency_key": ""},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "requests[2].idempotency_key",
        ),
        # Decoding errors name the item too.
        ({"channel": 42}, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "requests[2].channel"),
        (
            {"parent": "workspaces/other"},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "requests[2].parent",
        ),
        (
            {"channel": channel_pb2.CHANNEL_SMS},
            "FAILED_PRECONDITION",
            "CHANNEL_NOT_CONFIGURED",
            None,
        ),
    ],
)
async def test_a_bad_item_refuses_the_batch_naming_it(
    make_settings: Any, bad: dict[str, Any], code: str, reason: str, field: str | None
) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.BatchSendMessages(
                batch(send_request("x-0"), send_request("x-1"), send_request("x-2", **bad))
            )
        keys = await stored(stub)
    assert_refused(caught.value, code, reason, field)
    if field is None:
        info, _ = status_details(caught.value)
        assert info is not None and info.metadata["request_index"] == "2"
    assert keys == []


@pytest.mark.parametrize(
    ("requests", "parent", "field"),
    [
        (0, WORKSPACE, "requests"),
        (MAX_BATCH_SEND + 1, WORKSPACE, "requests"),
        (1, "", "parent"),
        (1, "workspace/default", "parent"),
    ],
)
async def test_batch_level_mistakes(
    make_settings: Any, requests: int, parent: str, field: str
) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.BatchSendMessages(
                batch(*(send_request(f"m-{i}") for i in range(requests)), parent=parent)
            )
        keys = await stored(stub)
    assert_refused(caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", field)
    assert keys == []


async def test_the_most_a_batch_may_hold_is_accepted(make_settings: Any) -> None:
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        answered = await stub.BatchSendMessages(
            batch(*(send_request(f"full-{i}") for i in range(MAX_BATCH_SEND)))
        )
    assert [m.idempotency_key for m in answered.messages] == [
        f"full-{i}" for i in range(MAX_BATCH_SEND)
    ]


async def test_batch_send_needs_the_senders_scope(make_settings: Any) -> None:
    assert METHOD_SCOPES[f"/{SERVICE_NAME}/BatchSendMessages"] == "delivery.send"
    settings = make_settings(
        dispatcher_enabled=False,
        auth_tokens={"reader": ["delivery.read"], "sender": ["delivery.send"]},
    )
    async with delivery(settings) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.BatchSendMessages(
                batch(send_request()), metadata=(("authorization", "Bearer reader"),)
            )
        answered = await stub.BatchSendMessages(
            batch(send_request()), metadata=(("authorization", "Bearer sender"),)
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(answered.messages) == 1
