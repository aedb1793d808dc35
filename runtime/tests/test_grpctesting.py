"""The test helpers themselves: expect_error, eventually, serve_fakes, status_details."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from rapport.config import ServiceSettings
from rapport.grpctesting import (
    eventually,
    expect_error,
    first_responses,
    serve_fakes,
    serve_in_process,
    status_details,
)

from . import _echo

FAILING = "test.Scripted"


class Scripted:
    """Aborts with the grpc.Status the test sets, or answers b"ok"."""

    def __init__(self) -> None:
        self.status: Any = None

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if self.status is not None:
            await context.abort(
                self.status.code, self.status.details, tuple(self.status.trailing_metadata)
            )
        return b"ok"

    def register(self, server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(self.call)
        generic = grpc.method_handlers_generic_handler(FAILING, {"Call": handler})
        server.add_generic_rpc_handlers((generic,))


def rich(code: int, message: str, *details: Any) -> Any:
    status = status_pb2.Status(code=code, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)


class Plain:
    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any = ()) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing


async def test_serve_fakes_serves_several_servicers_then_stops() -> None:
    scripted, probe = Scripted(), health.aio.HealthServicer()
    async with serve_fakes(
        scripted.register,
        lambda server: health_pb2_grpc.add_HealthServicer_to_server(probe, server),
    ) as address:
        host, _, port = address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        async with grpc.aio.insecure_channel(address) as channel:
            assert await channel.unary_unary(f"/{FAILING}/Call")(b"") == b"ok"
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(f"/{FAILING}/Call")(b"", timeout=1)
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Any], Any]]:
    """``scripted(status)``: a call to a fake that aborts with ``status`` (None: succeeds)."""
    fake = Scripted()
    async with serve_fakes(fake.register) as address:
        async with grpc.aio.insecure_channel(address) as channel:

            def call(status: Any) -> Any:
                fake.status = status
                return channel.unary_unary(f"/{FAILING}/Call")(b"")

            yield call


async def test_expect_error_returns_the_details(scripted: Callable[[Any], Any]) -> None:
    info = error_details_pb2.ErrorInfo(reason="R", domain="d", metadata={"field": "x.y"})
    violation = error_details_pb2.BadRequest.FieldViolation(field="x.y", description="bad")
    bad = error_details_pb2.BadRequest(field_violations=[violation])
    call = scripted(rich(code_pb2.INVALID_ARGUMENT, "x.y: bad", info, bad))
    got = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, domain="d", field="x.y")
    assert got == (info, bad)
    only_info = rich(code_pb2.NOT_FOUND, "gone", info)
    assert await expect_error(scripted(only_info), grpc.StatusCode.NOT_FOUND) == (info, None)


@pytest.mark.parametrize(
    ("status", "complaint"),
    [
        (None, "but the call succeeded"),
        (Plain(grpc.StatusCode.NOT_FOUND, "gone"), "expected INVALID_ARGUMENT, got NOT_FOUND"),
        (Plain(grpc.StatusCode.INVALID_ARGUMENT, "bare"), "without a google.rpc.Status"),
        (rich(code_pb2.INVALID_ARGUMENT, "none"), "exactly one ErrorInfo, got 0"),
        (
            rich(
                code_pb2.INVALID_ARGUMENT,
                "two",
                error_details_pb2.ErrorInfo(reason="A"),
                error_details_pb2.ErrorInfo(reason="B"),
            ),
            "exactly one ErrorInfo, got 2",
        ),
        (
            rich(code_pb2.INVALID_ARGUMENT, "d", error_details_pb2.ErrorInfo(domain="other")),
            "ErrorInfo.domain 'other' != 'd'",
        ),
    ],
)
async def test_expect_error_fails_loudly(
    scripted: Callable[[Any], Any], status: Any, complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        await expect_error(scripted(status), grpc.StatusCode.INVALID_ARGUMENT, domain="d")


async def test_status_details_is_strict_about_inconsistent_trailers() -> None:
    scripted = Scripted()
    trailer = rich(code_pb2.NOT_FOUND, "gone", error_details_pb2.ErrorInfo(reason="R"))
    scripted.status = Plain(grpc.StatusCode.UNAVAILABLE, "gone", trailer.trailing_metadata)
    async with serve_fakes(scripted.register) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(f"/{FAILING}/Call")(b"")
    with pytest.raises(ValueError, match="doesn't match"):
        status_details(caught.value)


async def test_status_details_of_a_runtime_error() -> None:
    async with serve_in_process(_echo.make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            info, bad_request = await expect_error(
                channel.unary_unary(f"/{_echo.SERVICE}/Fail")(b""),
                grpc.StatusCode.INVALID_ARGUMENT,
                domain=_echo.DOMAIN,
                field="identifiers[0].value",
            )
    assert info.reason == "INVALID_ARGUMENT"
    assert bad_request is not None and bad_request.field_violations[0].description


class TestEventually:
    async def test_returns_the_first_truthy_value_sync_or_async(self) -> None:
        values = iter([0, [], "", "done", "later"])
        assert await eventually(lambda: next(values), interval=0) == "done"

        calls = 0

        async def check() -> dict[str, int] | None:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0)
            return {"calls": calls} if calls == 3 else None

        assert await eventually(check, interval=0.001) == {"calls": 3}

    async def test_times_out_with_the_last_value(self) -> None:
        began = time.monotonic()
        with pytest.raises(AssertionError, match=r"not true within 0.2s; last value: \[\]"):
            await eventually(lambda: [], timeout=0.2, interval=0.01)
        assert 0.2 <= time.monotonic() - began < 2


async def test_first_responses_stops_at_the_count_or_the_time() -> None:
    class Stream:
        def __init__(self, items: int, pause: float) -> None:
            self.items, self.pause, self.cancelled = items, pause, False

        def __aiter__(self):
            return self._gen()

        async def _gen(self):
            for i in range(self.items):
                await asyncio.sleep(self.pause)
                yield i

        def cancel(self) -> None:
            self.cancelled = True

    plenty = Stream(10, 0)
    assert await first_responses(plenty, 3) == [0, 1, 2] and plenty.cancelled
    slow = Stream(10, 0.2)
    assert await first_responses(slow, 3, within=0.3) == [0] and slow.cancelled


async def test_eventually_fails_when_a_check_hangs() -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    with pytest.raises(AssertionError, match="still running after 0.1s"):
        await eventually(hangs, timeout=0.1)
