"""Responses over the send limit end with a clear status; the access log tells the truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from rapport.config import ServiceSettings
from rapport.grpctesting import eventually, expect_error, serve_in_process

from . import _echo
from ._typed import DOMAIN, Req, make_build, method

LIMIT = 1024
# BytesValue(value=b"x" * n) is 1 tag byte + 2 length bytes + n.
FITS, TOO_BIG = LIMIT - 3, LIMIT - 2


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    settings = ServiceSettings(max_message_bytes=LIMIT)
    async with serve_in_process(make_build(), settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield channel


def sized(channel: grpc.aio.Channel, name: str) -> Any:
    make = channel.unary_unary if name in ("Sized", "SizedEncoded") else channel.unary_stream
    return make(
        method(name),
        request_serializer=wrappers_pb2.Int64Value.SerializeToString,
        response_deserializer=wrappers_pb2.BytesValue.FromString,
    )


def check_too_large(info: Any) -> None:
    assert (info.reason, info.domain) == ("RESPONSE_TOO_LARGE", DOMAIN)
    assert info.metadata["limit"] == str(LIMIT)
    assert info.metadata["size"] == str(LIMIT + 1)


async def test_unary_response_at_and_over_the_limit(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await sized(channel, "Sized")(wrappers_pb2.Int64Value(value=FITS))
    assert len(reply.SerializeToString()) == LIMIT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sized(channel, "Sized")(wrappers_pb2.Int64Value(value=TOO_BIG))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "ask for less" in (caught.value.details() or "")
    info, _ = await expect_error(
        sized(channel, "Sized")(wrappers_pb2.Int64Value(value=TOO_BIG)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    check_too_large(info)
    # No transport-level failure inside grpc any more.
    assert not [r for r in caplog.records if r.name.startswith("grpc")]


async def test_a_response_encoded_by_the_servicer_is_sent_and_measured(
    channel: grpc.aio.Channel,
) -> None:
    reply = await sized(channel, "SizedEncoded")(wrappers_pb2.Int64Value(value=FITS))
    assert reply.value == b"x" * FITS
    info, _ = await expect_error(
        sized(channel, "SizedEncoded")(wrappers_pb2.Int64Value(value=TOO_BIG)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    check_too_large(info)


@pytest.mark.parametrize("name", ["SizedStream", "SizedWrites"])
async def test_stream_item_over_the_limit(channel: grpc.aio.Channel, name: str) -> None:
    received: list[bytes] = []

    async def consume() -> None:
        async for item in sized(channel, name)(wrappers_pb2.Int64Value(value=TOO_BIG)):
            received.append(item.value)

    info, _ = await expect_error(consume(), grpc.StatusCode.RESOURCE_EXHAUSTED)
    check_too_large(info)
    assert received == [b"small"]  # the items before it were delivered


def _codes(caplog: pytest.LogCaptureFixture, count: int) -> dict[str, str]:
    return {r.method: r.code for r in _records(caplog, count)}


async def test_access_log_records_how_calls_really_ended(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rapport.access")
    settings = ServiceSettings(max_message_bytes=LIMIT)
    async with serve_in_process(make_build(), settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:

            def typed(name: str) -> Any:
                return channel.unary_unary(method(name), request_serializer=Req.SerializeToString)

            await typed("Get")(Req())
            for name in ("Abort", "NotFound"):
                with pytest.raises(grpc.aio.AioRpcError):
                    await typed(name)(Req())
            with pytest.raises(grpc.aio.AioRpcError):
                await sized(channel, "Sized")(wrappers_pb2.Int64Value(value=TOO_BIG))
            with pytest.raises(grpc.aio.AioRpcError):
                async for _ in sized(channel, "SizedStream")(
                    wrappers_pb2.Int64Value(value=TOO_BIG)
                ):
                    pass
            # The client goes away in the middle of a stream.
            call = channel.unary_stream(
                method("HangStream"), request_serializer=Req.SerializeToString
            )(Req())
            await call.read()
            call.cancel()
            codes = await eventually(lambda: _codes(caplog, 6))
    assert codes == {
        method("Get"): "OK",
        method("Abort"): "FAILED_PRECONDITION",
        method("NotFound"): "NOT_FOUND",
        method("Sized"): "RESOURCE_EXHAUSTED",
        method("SizedStream"): "RESOURCE_EXHAUSTED",
        method("HangStream"): "CANCELLED",
    }

    caplog.clear()
    async with serve_in_process(_echo.make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await channel.unary_unary(f"/{_echo.SERVICE}/Boom")(b"")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(f"/{_echo.SERVICE}/Slow")(b"1", timeout=0.2)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            cancelled = channel.unary_unary(f"/{_echo.SERVICE}/Deadline")  # warm-up: connected
            await cancelled(b"")
            call = channel.unary_unary(f"/{_echo.SERVICE}/Slow")(b"1")
            await asyncio.sleep(0.2)  # the handler is sleeping now
            call.cancel()
            records = await eventually(lambda: _records(caplog, 4))
    assert sorted((r.method.rpartition("/")[2], r.code) for r in records) == [
        ("Boom", "INTERNAL"),
        ("Deadline", "OK"),
        ("Slow", "CANCELLED"),
        ("Slow", "DEADLINE_EXCEEDED"),
    ]


def _records(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    records = [r for r in caplog.records if r.name == "rapport.access"]
    return records if len(records) >= count else []
