from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rapport.config import ServiceSettings
from rapport.grpcclients import open_channel
from rapport.grpcserver import ServiceParts, start
from rapport.grpctesting import eventually, serve_in_process, status_details

from ._echo import DOMAIN, SERVICE, make_build

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SLACK = 0.15  # seconds; grpc-timeout rounding


def call(channel: grpc.aio.Channel, name: str) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(f"/{SERVICE}/{name}")


async def test_health_serving_then_not_serving_while_draining() -> None:
    server = await start(await make_build()(ServiceSettings()), ServiceSettings())
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == SERVING

        in_flight = asyncio.ensure_future(call(channel, "Slow")(b"0.5"))
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.stop(grace=5, drain=0))
        await asyncio.sleep(0.05)
        # Draining: health says NOT_SERVING, the in-flight call still completes.
        assert server.health._server_status[""] == NOT_SERVING
        assert server.health._server_status[SERVICE] == NOT_SERVING
        assert await in_flight == b"done"
        await stopping
    await server.stop()  # idempotent


async def test_reflection_lists_services() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            replies = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_invalid_argument_maps_to_status_with_details() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(channel, "Fail")(b"")
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "identifiers[0].value: must not be empty"
    info, bad_request = status_details(err)
    assert info is not None and bad_request is not None
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)
    assert dict(info.metadata) == {"field": "identifiers[0].value"}
    [violation] = bad_request.field_violations
    assert (violation.field, violation.description) == (
        "identifiers[0].value",
        "must not be empty",
    )


async def test_rpc_not_built_yet_is_unimplemented() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(channel, "NotBuilt")(b"")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    info, _ = status_details(caught.value)
    assert info is not None and info.reason == "NOT_IMPLEMENTED"


async def test_unexpected_exception_is_internal_without_leak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with caplog.at_level(logging.ERROR, logger="rapport.errors"):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(channel, "Boom")(b"")
    err = caught.value
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "internal error"
    assert "secret" not in str(err.trailing_metadata())
    info, _ = status_details(err)
    assert info is not None and (info.reason, info.domain) == ("INTERNAL", DOMAIN)
    assert any(r.exc_info for r in caplog.records)  # logged with its traceback


async def test_server_streaming_and_error_mid_stream() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            items = [r async for r in channel.unary_stream(f"/{SERVICE}/Stream")(b"")]
            assert items == [b"0", b"1", b"2"]
            received = []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for item in channel.unary_stream(f"/{SERVICE}/StreamFail")(b""):
                    received.append(item)
    assert received == [b"first"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    info, _ = status_details(caught.value)
    assert info is not None
    assert dict(info.metadata) == {"resource": "workspaces/default/customers/x"}


async def test_access_log_has_method_code_and_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with caplog.at_level(logging.INFO, logger="rapport.access"):
                await call(channel, "Echo")(b"payload-bytes")
                with pytest.raises(grpc.aio.AioRpcError):
                    await call(channel, "Fail")(b"")
                # Written when grpc reports the call done: maybe just after the
                # client got its answer.
                records = await eventually(lambda: access_records(caplog, 2))
    codes = {r.method: r.code for r in records}
    assert codes == {f"/{SERVICE}/Echo": "OK", f"/{SERVICE}/Fail": "INVALID_ARGUMENT"}
    assert all(isinstance(r.duration_ms, float) for r in records)
    assert "payload-bytes" not in caplog.text


def access_records(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The access-log records once there are ``count`` of them, else []."""
    records = [r for r in caplog.records if r.name == "rapport.access"]
    return records if len(records) >= count else []


class TestAuth:
    settings = ServiceSettings(auth_tokens={"reader": ["test.read"], "admin": ["*"]})
    build = staticmethod(
        make_build(
            method_scopes={
                f"/{SERVICE}/Echo": "test.write",
                f"/{SERVICE}/Deadline": "test.read",
                f"/{SERVICE}/StreamDeadline": "test.read",
            }
        )
    )

    async def _call(self, method: str, token: str | None) -> grpc.aio.AioRpcError | bytes:
        async with serve_in_process(self.build, self.settings) as server:
            async with grpc.aio.insecure_channel(server.address) as channel:
                metadata = (("authorization", f"Bearer {token}"),) if token else None
                try:
                    return await call(channel, method)(b"hi", metadata=metadata)
                except grpc.aio.AioRpcError as err:
                    return err

    async def test_missing_token_is_unauthenticated(self) -> None:
        err = await self._call("Deadline", None)
        assert isinstance(err, grpc.aio.AioRpcError)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        info, _ = status_details(err)
        assert info is not None and (info.reason, info.domain) == ("MISSING_TOKEN", DOMAIN)

    async def test_unknown_token_is_unauthenticated(self) -> None:
        err = await self._call("Deadline", "nope")
        assert isinstance(err, grpc.aio.AioRpcError)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_wrong_scope_is_permission_denied(self) -> None:
        err = await self._call("Echo", "reader")
        assert isinstance(err, grpc.aio.AioRpcError)
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        info, _ = status_details(err)
        assert info is not None and info.reason == "MISSING_SCOPE"
        assert info.metadata["scope"] == "test.write"

    async def test_valid_token_and_scope(self) -> None:
        assert await self._call("Echo", "admin") == b"hi"
        assert await self._call("Deadline", "reader") == b"none"

    async def test_method_not_in_policy_is_denied_to_every_token(self) -> None:
        for token in ("reader", "admin"):  # admin has scope "*"
            err = await self._call("Slow", token)
            assert isinstance(err, grpc.aio.AioRpcError)
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            info, _ = status_details(err)
            assert info is not None and (info.reason, info.domain) == (
                "METHOD_NOT_IN_POLICY",
                DOMAIN,
            )
            assert dict(info.metadata) == {"method": f"/{SERVICE}/Slow"}
        # Authentication still comes first.
        err = await self._call("Slow", None)
        assert isinstance(err, grpc.aio.AioRpcError)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_health_is_open(self) -> None:
        async with serve_in_process(self.build, self.settings) as server:
            async with grpc.aio.insecure_channel(server.address) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest()
                )
        assert reply.status == SERVING

    async def test_outbound_token_is_sent(self) -> None:
        client_settings = ServiceSettings(outbound_token="reader")
        async with serve_in_process(self.build, self.settings) as server:
            async with open_channel(server.address, client_settings) as channel:
                assert float(await call(channel, "Deadline")(b"")) > 0

    async def test_outbound_token_is_sent_on_streaming_calls(self) -> None:
        async with serve_in_process(self.build, self.settings) as server:
            async with open_channel(server.address, ServiceSettings(outbound_token="reader")) as ch:
                items = [r async for r in ch.unary_stream(f"/{SERVICE}/StreamDeadline")(b"")]
                assert items == [b"none"]  # and still no default deadline on a stream
            async with open_channel(server.address, ServiceSettings()) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    [r async for r in channel.unary_stream(f"/{SERVICE}/StreamDeadline")(b"")]
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_deadline_propagates_to_outbound_calls() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as downstream:
        build = make_build(relay_to=downstream.address)
        async with serve_in_process(build, ServiceSettings()) as upstream:
            async with grpc.aio.insecure_channel(upstream.address) as channel:
                reply = await call(channel, "Relay")(b"", timeout=3)
    own, theirs = (float(x) for x in reply.decode().split("|"))
    # grpc-timeout is encoded with limited precision (rounded up): allow slack.
    assert 0 < theirs <= own + SLACK
    assert own <= 3 + SLACK


async def test_outbound_default_deadline_without_incoming_call() -> None:
    settings = ServiceSettings(default_deadline_seconds=2)
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with open_channel(server.address, settings) as channel:
            remaining = float(await call(channel, "Deadline")(b""))
            assert 0 < remaining <= 2 + SLACK
            assert float(await call(channel, "Deadline")(b"", timeout=1)) <= 1 + SLACK
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(channel, "Slow")(b"1", timeout=0.1)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_outbound_streams_get_no_default_deadline() -> None:
    settings = ServiceSettings(default_deadline_seconds=2)
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with open_channel(server.address, settings) as channel:
            method = channel.unary_stream(f"/{SERVICE}/StreamDeadline")
            assert [r async for r in method(b"")] == [b"none"]  # long-lived: no deadline
            [explicit] = [r async for r in method(b"", timeout=1)]
    assert 0 < float(explicit) <= 1 + SLACK


async def test_background_tasks_and_on_close() -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def loop_forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def close() -> None:
        events.append("closed")

    parts = await make_build(background=[loop_forever], on_close=[close])(ServiceSettings())
    assert isinstance(parts, ServiceParts)
    server = await start(parts, ServiceSettings())
    await asyncio.wait_for(started.wait(), 1)
    await server.stop(grace=0, drain=0)
    await server.stop(grace=0, drain=0)
    assert events == ["cancelled", "closed"]


async def test_a_background_task_ignoring_its_cancel_does_not_hang_the_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()
    closed: list[str] = []

    async def stubborn() -> None:
        # What a library's swallowed cancel looks like from the runtime's side.
        started.set()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if closed:
                    raise

    async def close() -> None:
        closed.append("closed")

    parts = await make_build(background=[stubborn], on_close=[close])(ServiceSettings())
    server = await start(parts, ServiceSettings())
    await asyncio.wait_for(started.wait(), 1)
    with caplog.at_level(logging.WARNING, logger="rapport.grpcserver"):
        async with asyncio.timeout(10):
            await server.stop(grace=0.1, drain=0)
    assert closed == ["closed"]
    assert any(
        "did not end" in r.getMessage() and "stubborn" in getattr(r, "action", "")
        for r in caplog.records
    )
    await asyncio.sleep(0)  # the second cancel, taken now that the service is closed


async def test_message_size_limit() -> None:
    settings = ServiceSettings(max_message_bytes=1024)
    async with serve_in_process(make_build(), settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(channel, "Echo")(b"x" * 4096)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_taken_port_is_refused_not_shared() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as first:
        settings = ServiceSettings(port=first.port)
        with pytest.raises(RuntimeError):
            second = await start(await make_build()(settings), settings)
            await second.stop(0)  # only reached if it bound: the assertion fails


async def test_methods_are_served_without_registered_method_handlers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # grpc.aio's accept loop waits on one pending call per registered method for
    # every call it accepts; the runtime serves every method through generic handlers.
    registered: list[str] = []
    original = grpc.aio._server.Server.add_registered_method_handlers

    def spy(self: grpc.aio.Server, service_name: str, handlers: dict) -> None:
        registered.append(service_name)
        original(self, service_name, handlers)

    monkeypatch.setattr(grpc.aio._server.Server, "add_registered_method_handlers", spy)
    async with serve_in_process(make_build(), ServiceSettings()) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
            assert reply.status == SERVING
            assert await call(channel, "Echo")(b"hi") == b"hi"
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            replies = [r async for r in stub.ServerReflectionInfo(iter([request]))]
            assert replies[0].list_services_response.service
    assert registered == []
