"""Workspace-scoped tokens and default deny, through a real server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from rapport.config import ServiceSettings
from rapport.grpctesting import eventually, expect_error, serve_in_process

from ._typed import DOMAIN, Batch, Ref, Req, make_build, method

TOKENS: dict[str, Any] = {
    "default-only": {"scopes": ["typed.read"], "workspaces": ["default"]},
    "two": {"scopes": ["typed.read"], "workspaces": ["default", "brand-b"]},
    "everywhere": ["typed.read"],  # the list form: every workspace
    "root": {"scopes": ["*"], "workspaces": ["*"]},
}


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    async with serve_in_process(make_build(), ServiceSettings(auth_tokens=TOKENS)) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield channel


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def get(channel: grpc.aio.Channel, name: str = "Get", request_type: Any = Req) -> Any:
    return channel.unary_unary(
        method(name),
        request_serializer=request_type.SerializeToString,
        response_deserializer=request_type.FromString,
    )


def watch(channel: grpc.aio.Channel) -> Any:
    return channel.unary_stream(
        method("Watch"),
        request_serializer=Req.SerializeToString,
        response_deserializer=Req.FromString,
    )


async def test_token_may_use_its_workspaces(channel: grpc.aio.Channel) -> None:
    request = Req(parent="workspaces/default", names=["workspaces/default/customers/1"])
    assert await get(channel)(request, metadata=bearer("default-only")) == request
    both = Req(parent="workspaces/default", customer="workspaces/brand-b/customers/2")
    assert await get(channel)(both, metadata=bearer("two")) == both
    # A request naming no workspace at all is not restricted.
    assert await get(channel)(Req(count=1), metadata=bearer("default-only")) == Req(count=1)


async def test_other_workspace_is_denied(channel: grpc.aio.Channel) -> None:
    info, _ = await expect_error(
        get(channel)(Req(parent="workspaces/brand-b"), metadata=bearer("default-only")),
        grpc.StatusCode.PERMISSION_DENIED,
        domain=DOMAIN,
    )
    assert info.reason == "WORKSPACE_NOT_ALLOWED"
    assert dict(info.metadata) == {"workspace": "brand-b", "method": method("Get")}


@pytest.mark.parametrize(
    "request_message",
    [
        Req(parent="workspaces/default", names=["workspaces/default/x", "workspaces/evil/x"]),
        Req(ref=Ref(name="workspaces/evil/things/1")),  # oneof, nested message
        Req(refs=[Ref(name="ok"), Ref(name="workspaces/evil")]),
        Req(child=Req(child=Req(customer="workspaces/evil/customers/1"))),
        Req(labels={"k": "workspaces/evil/x"}),
        Req(ref_map={"k": Ref(name="workspaces/evil/x")}),
    ],
    ids=["repeated", "oneof", "repeated-message", "recursive", "map", "map-message"],
)
async def test_names_at_any_depth_are_checked(
    channel: grpc.aio.Channel, request_message: Any
) -> None:
    info, _ = await expect_error(
        get(channel)(request_message, metadata=bearer("two")), grpc.StatusCode.PERMISSION_DENIED
    )
    assert (info.reason, info.metadata["workspace"]) == ("WORKSPACE_NOT_ALLOWED", "evil")


async def test_batch_element_naming_another_workspace_is_denied(channel: grpc.aio.Channel) -> None:
    batch = Batch(
        parent="workspaces/default",
        requests=[Req(customer=f"workspaces/default/customers/{i}") for i in range(50)]
        + [Req(customer="workspaces/brand-b/customers/x")],
    )
    info, _ = await expect_error(
        get(channel, "GetBatch", Batch)(batch, metadata=bearer("default-only")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert info.metadata["workspace"] == "brand-b"
    assert await get(channel, "GetBatch", Batch)(batch, metadata=bearer("two")) == batch


async def test_free_form_data_is_not_a_name(channel: grpc.aio.Channel) -> None:
    request = Req(parent="workspaces/default")
    request.data.update({"link": "workspaces/brand-b/customers/1"})
    request.extra.Pack(Ref(name="workspaces/brand-b"))
    assert await get(channel)(request, metadata=bearer("default-only")) == request


async def test_all_workspace_tokens(channel: grpc.aio.Channel) -> None:
    request = Req(parent="workspaces/anything", names=["workspaces/else/x"])
    for token in ("everywhere", "root"):
        assert await get(channel)(request, metadata=bearer(token)) == request


async def test_server_streaming_is_checked(channel: grpc.aio.Channel) -> None:
    allowed = Req(parent="workspaces/default")
    items = [r async for r in watch(channel)(allowed, metadata=bearer("default-only"))]
    assert items == [allowed, allowed]
    received: list[Any] = []

    async def consume() -> None:
        denied = Req(parent="workspaces/brand-b")
        async for item in watch(channel)(denied, metadata=bearer("default-only")):
            received.append(item)

    info, _ = await expect_error(consume(), grpc.StatusCode.PERMISSION_DENIED, domain=DOMAIN)
    assert (info.reason, info.metadata["workspace"]) == ("WORKSPACE_NOT_ALLOWED", "brand-b")
    assert received == []  # refused before the behaviour ran


async def test_method_not_in_policy_even_for_root(channel: grpc.aio.Channel) -> None:
    for token in ("root", "everywhere", "default-only"):
        info, _ = await expect_error(
            get(channel, "Unlisted")(Req(), metadata=bearer(token)),
            grpc.StatusCode.PERMISSION_DENIED,
            domain=DOMAIN,
        )
        assert info.reason == "METHOD_NOT_IN_POLICY"
        assert dict(info.metadata) == {"method": method("Unlisted")}


async def test_denials_are_access_logged(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="rapport.access"):
        with pytest.raises(grpc.aio.AioRpcError):
            await get(channel)(Req(parent="workspaces/x"), metadata=bearer("default-only"))
        [record] = await eventually(
            lambda: [r for r in caplog.records if r.name == "rapport.access"]
        )
    assert (record.method, record.code) == (method("Get"), "PERMISSION_DENIED")


async def test_auth_off_checks_nothing() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            request = Req(parent="workspaces/anything")
            assert await get(channel, "Unlisted")(request) == request
