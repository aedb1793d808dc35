"""Request bytes that do not decode: INVALID_ARGUMENT (MALFORMED_REQUEST), never UNKNOWN."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError
from grpc_status import rpc_status
from rapport.config import ServiceSettings
from rapport.grpctesting import eventually, expect_error, serve_in_process, status_details

from ._typed import DOMAIN, make_build, method

SECRET = "alice@example.com"


def nested_struct(depth: int) -> struct_pb2.Struct:
    outer = struct_pb2.Struct()
    current = outer
    for _ in range(depth):
        current = current.fields["a"].struct_value
    return outer


def _valid() -> bytes:
    return struct_pb2.Struct(
        fields={"k": struct_pb2.Value(string_value=SECRET)}
    ).SerializeToString()


MALFORMED = {
    # The string value's first two bytes replaced by bytes that are never UTF-8.
    "bad-utf8": _valid().replace(SECRET.encode(), b"\xff\xfe" + SECRET.encode()[2:]),
    "truncated": _valid()[:-4],
    "wrong-wire-type": b"\x0f" + _valid(),  # field 1 with wire type 7 (no such type)
    # Each level is three messages (Struct, map entry, Value): past upb's limit
    # of 100 nested messages from 34 levels on.
    "struct-40-deep": nested_struct(40).SerializeToString(),
    "struct-200-deep": nested_struct(200).SerializeToString(),
}


Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(params=["auth-off", "auth-on"])
async def served(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[grpc.aio.Channel, Metadata]]:
    """A channel to the typed service, and the metadata its calls need."""
    settings, metadata = ServiceSettings(), ()
    if request.param == "auth-on":
        # Workspace-limited: the workspace check must let the marker through.
        tokens = {"t": {"scopes": ["*"], "workspaces": ["default"]}}
        settings, metadata = ServiceSettings(auth_tokens=tokens), (("authorization", "Bearer t"),)
    async with serve_in_process(make_build(), settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield channel, metadata


def test_the_malformed_cases_really_do_not_decode() -> None:
    for raw in MALFORMED.values():
        with pytest.raises(DecodeError):
            struct_pb2.Struct.FromString(raw)


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_unary(served: tuple[grpc.aio.Channel, Metadata], raw: bytes) -> None:
    channel, metadata = served
    # No serializer: the raw bytes go out as they are.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(method("Struct"))(raw, metadata=metadata)
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    # Names the type, never echoes the bytes.
    assert err.details() == "the request is not a valid google.protobuf.Struct message"
    assert SECRET[2:] not in repr(err.trailing_metadata())
    status = rpc_status.from_call(err)
    assert status is not None
    assert [d.type_url.rpartition("/")[2] for d in status.details] == [
        "google.rpc.ErrorInfo",
        "google.rpc.BadRequest",
    ]
    info, bad_request = status_details(err)
    assert info is not None and bad_request is not None
    assert (info.reason, info.domain) == ("MALFORMED_REQUEST", DOMAIN)
    assert info.metadata["request_type"] == "google.protobuf.Struct"
    assert len(bad_request.field_violations) == 1


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_server_streaming(served: tuple[grpc.aio.Channel, Metadata], raw: bytes) -> None:
    channel, metadata = served
    received: list[bytes] = []

    async def consume() -> None:
        async for item in channel.unary_stream(method("StructStream"))(raw, metadata=metadata):
            received.append(item)

    info, _ = await expect_error(consume(), grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN)
    assert info.reason == "MALFORMED_REQUEST"
    assert received == []


async def test_valid_requests_still_work(served: tuple[grpc.aio.Channel, Metadata]) -> None:
    channel, metadata = served
    for raw in (_valid(), nested_struct(20).SerializeToString(), b""):
        assert await channel.unary_unary(method("Struct"))(raw, metadata=metadata) == raw
        stream = channel.unary_stream(method("StructStream"))
        assert [r async for r in stream(raw, metadata=metadata)] == [raw]


async def test_authentication_comes_first() -> None:
    settings = ServiceSettings(auth_tokens={"t": ["*"]})
    async with serve_in_process(make_build(), settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            await expect_error(
                channel.unary_unary(method("Struct"))(MALFORMED["truncated"]),
                grpc.StatusCode.UNAUTHENTICATED,
                domain=DOMAIN,
            )


async def test_malformed_requests_are_access_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with caplog.at_level(logging.INFO, logger="rapport.access"):
                with pytest.raises(grpc.aio.AioRpcError):
                    await channel.unary_unary(method("Struct"))(MALFORMED["bad-utf8"])
                [record] = await eventually(
                    lambda: [r for r in caplog.records if r.name == "rapport.access"]
                )
    assert (record.method, record.code) == (method("Struct"), "INVALID_ARGUMENT")
    assert SECRET[2:] not in caplog.text
