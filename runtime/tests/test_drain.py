"""Stopping: NOT_SERVING first, still serving for drain_seconds, then grace, then close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rapport.config import ServiceSettings
from rapport.grpcserver import ServiceParts, start
from rapport.grpctesting import eventually, serve_in_process

from ._echo import SERVICE, make_build

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DRAIN = 1.5


async def test_drain_window_keeps_serving_while_not_serving() -> None:
    events: list[str] = []

    async def background() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("background cancelled")
            raise

    async def close() -> None:
        events.append("closed")

    settings = ServiceSettings(drain_seconds=DRAIN, grace_seconds=0)
    parts = await make_build(background=[background], on_close=[close])(settings)
    server = await start(parts, settings)
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        echo = channel.unary_unary(f"/{SERVICE}/Echo")
        assert (await health.Check(health_pb2.HealthCheckRequest())).status == SERVING

        began = time.monotonic()
        stopping = asyncio.ensure_future(server.stop())  # settings' drain and grace

        async def not_serving() -> bool:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
            return reply.status == NOT_SERVING

        await eventually(not_serving, timeout=DRAIN / 3)
        # Inside the drain window: new calls are still served normally.
        assert await echo(b"during drain", timeout=1) == b"during drain"
        assert events == []  # background work goes on too
        assert not stopping.done()

        await stopping
        assert time.monotonic() - began >= DRAIN
        assert events == ["background cancelled", "closed"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await echo(b"after", timeout=1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_explicit_drain_zero_skips_the_window() -> None:
    settings = ServiceSettings(drain_seconds=30)
    server = await start(await make_build()(settings), settings)
    began = time.monotonic()
    await server.stop(grace=0, drain=0)
    assert time.monotonic() - began < 5


async def test_serve_in_process_stops_without_drain_or_grace() -> None:
    settings = ServiceSettings(drain_seconds=30, grace_seconds=30)
    async with serve_in_process(make_build(), settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Echo")(b"x") == b"x"
        began = time.monotonic()
    assert time.monotonic() - began < 5


async def test_on_close_waits_for_handlers_still_ending() -> None:
    """grpc's stop() returns once calls are cancelled, not once their handlers
    finished: a stream still cleaning up must not find its engine disposed (and a
    connection opened then would outlive the process's exit)."""
    events: list[str] = []

    async def watch(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield b"open"
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.3)  # e.g. a query in flight when cancelled
            events.append("handler ended")

    async def close() -> None:
        events.append("closed")

    generic = grpc.method_handlers_generic_handler(
        "test.Watch", {"Watch": grpc.unary_stream_rpc_method_handler(watch)}
    )
    parts = ServiceParts(
        register=[lambda server: server.add_generic_rpc_handlers((generic,))],
        service_names=["test.Watch"],
        error_domain="rapport.test.v1",
        on_close=[close],
    )
    server = await start(parts, ServiceSettings())
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_stream("/test.Watch/Watch")(b"")
        assert await call.read() == b"open"
        await server.stop(grace=0.1, drain=0)
    assert events == ["handler ended", "closed"]
