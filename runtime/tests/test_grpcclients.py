"""Outbound channels on every call kind, and error details through grpcio-status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.config import ServiceSettings
from rapport.grpcclients import error_details, open_channel
from rapport.grpctesting import serve_fakes, serve_in_process

from . import _echo

SLACK = 0.15


class Recorder:
    """A raw-bytes fake for the four call kinds: what metadata and deadline each one saw."""

    SERVICE = "test.Recorder"

    def __init__(self) -> None:
        self.seen: dict[str, tuple[dict[str, str], float | None]] = {}

    def _record(self, kind: str, context: grpc.aio.ServicerContext) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.seen[kind] = (metadata, context.time_remaining())

    async def unary_unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self._record("unary_unary", context)
        return b"ok"

    async def unary_stream(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        self._record("unary_stream", context)
        yield b"ok"

    async def stream_unary(self, requests: Any, context: grpc.aio.ServicerContext) -> bytes:
        self._record("stream_unary", context)
        return b"".join([r async for r in requests])

    async def stream_stream(
        self, requests: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        self._record("stream_stream", context)
        async for request in requests:
            yield request

    def register(self, server: grpc.aio.Server) -> None:
        handlers = {
            "UnaryUnary": grpc.unary_unary_rpc_method_handler(self.unary_unary),
            "UnaryStream": grpc.unary_stream_rpc_method_handler(self.unary_stream),
            "StreamUnary": grpc.stream_unary_rpc_method_handler(self.stream_unary),
            "StreamStream": grpc.stream_stream_rpc_method_handler(self.stream_stream),
        }
        generic = grpc.method_handlers_generic_handler(self.SERVICE, handlers)
        server.add_generic_rpc_handlers((generic,))


async def call_every_kind(channel: grpc.aio.Channel) -> None:
    def name(method: str) -> str:
        return f"/{Recorder.SERVICE}/{method}"

    assert await channel.unary_unary(name("UnaryUnary"))(b"") == b"ok"
    assert [r async for r in channel.unary_stream(name("UnaryStream"))(b"")] == [b"ok"]
    assert await channel.stream_unary(name("StreamUnary"))(iter([b"a", b"b"])) == b"ab"
    replies = channel.stream_stream(name("StreamStream"))(iter([b"a", b"b"]))
    assert [r async for r in replies] == [b"a", b"b"]


async def test_token_and_deadline_travel_on_every_call_kind() -> None:
    recorder = Recorder()
    settings = ServiceSettings(outbound_token="s3cret", default_deadline_seconds=3)
    async with serve_fakes(recorder.register) as address:
        async with open_channel(address, settings) as channel:
            await call_every_kind(channel)
    assert set(recorder.seen) == {"unary_unary", "unary_stream", "stream_unary", "stream_stream"}
    for kind, (metadata, remaining) in recorder.seen.items():
        assert metadata.get("authorization") == "Bearer s3cret", kind
        if kind.endswith("_stream"):
            assert remaining is None, kind  # long-lived response streams: no default deadline
        else:
            assert remaining is not None and 0 < remaining <= 3 + SLACK, kind


async def test_explicit_authorization_header_wins() -> None:
    recorder = Recorder()
    async with serve_fakes(recorder.register) as address:
        async with open_channel(address, ServiceSettings(outbound_token="mine")) as channel:
            method = channel.unary_stream(f"/{Recorder.SERVICE}/UnaryStream")
            [_ async for _ in method(b"", metadata=(("authorization", "Bearer theirs"),))]
    assert recorder.seen["unary_stream"][0]["authorization"] == "Bearer theirs"


async def test_tracing_context_travels_on_every_call_kind() -> None:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
    from opentelemetry.sdk.trace import TracerProvider

    instrumentor = GrpcAioInstrumentorClient()
    if instrumentor.is_instrumented_by_opentelemetry:
        pytest.skip("grpc.aio client instrumentation already installed in this process")
    recorder = Recorder()
    instrumentor.instrument(tracer_provider=TracerProvider())
    try:
        async with serve_fakes(recorder.register) as address:
            async with open_channel(address, ServiceSettings(outbound_token="t")) as channel:
                await call_every_kind(channel)
    finally:
        instrumentor.uninstrument()
    for kind, (metadata, _remaining) in recorder.seen.items():
        assert "traceparent" in metadata, kind
        assert metadata["authorization"] == "Bearer t", kind


class Failing:
    """Aborts with whatever status the test put in ``status``."""

    SERVICE = "test.Failing"

    def __init__(self) -> None:
        self.status: Any = None

    async def fail(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await context.abort(self.status.code, self.status.details, self.status.trailing_metadata)
        return b""

    def register(self, server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(self.fail)
        generic = grpc.method_handlers_generic_handler(self.SERVICE, {"Fail": handler})
        server.add_generic_rpc_handlers((generic,))


def _status(code: int, message: str, *details: Any) -> status_pb2.Status:
    status = status_pb2.Status(code=code, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


async def _fail_with(failing: Failing, address: str, status: Any) -> grpc.aio.AioRpcError:
    failing.status = status
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(f"/{Failing.SERVICE}/Fail")(b"")
    return caught.value


async def test_error_details_from_our_servers() -> None:
    async with serve_in_process(_echo.make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(f"/{_echo.SERVICE}/Fail")(b"")
    info, bad_request = error_details(caught.value)
    assert info is not None and (info.reason, info.domain) == ("INVALID_ARGUMENT", _echo.DOMAIN)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["identifiers[0].value"]


async def test_error_details_tolerate_missing_garbled_or_inconsistent_trailers() -> None:
    failing = Failing()
    info = error_details_pb2.ErrorInfo(reason="QUOTA", domain="x")
    good = _status(code_pb2.RESOURCE_EXHAUSTED, "slow down", info)
    async with serve_fakes(failing.register) as address:
        err = await _fail_with(failing, address, rpc_status.to_status(good))
        assert error_details(err) == (info, None)

        plain = grpc.StatusCode.UNAVAILABLE
        err = await _fail_with(failing, address, _Plain(plain, "down", ()))
        assert error_details(err) == (None, None)

        garbled = _Plain(plain, "down", (("grpc-status-details-bin", b"\xff\xff not a status"),))
        err = await _fail_with(failing, address, garbled)
        assert err.code() == plain and error_details(err) == (None, None)

        # The trailer says RESOURCE_EXHAUSTED, the call says UNAVAILABLE.
        mismatched = rpc_status.to_status(good)
        err = await _fail_with(
            failing, address, _Plain(plain, "slow down", mismatched.trailing_metadata)
        )
        assert err.code() == plain and error_details(err) == (None, None)


class _Plain:
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Any) -> None:
        self.code, self.details, self.trailing_metadata = code, details, tuple(trailing_metadata)
