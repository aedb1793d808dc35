"""HTTP next to gRPC: served with the service, probes, limits, access log, errors, drain."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from rapport import jsonlogs
from rapport.config import ServiceSettings
from rapport.grpcserver import start
from rapport.grpctesting import eventually, serve_in_process
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from ._echo import SERVICE, make_build
from ._http_app import Gate, make_http_app

LIMIT = 4096


async def _status_line(address: str, request: bytes) -> bytes:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.readline()
    finally:
        writer.close()


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    settings = ServiceSettings(http_max_body_bytes=LIMIT)
    async with serve_in_process(make_build(http_app=make_http_app()), settings) as running:
        assert running.http_address is not None
        async with httpx.AsyncClient(
            base_url=f"http://{running.http_address}", timeout=5
        ) as client:
            yield running.address, client


async def test_app_is_served_next_to_grpc(served: tuple[str, httpx.AsyncClient]) -> None:
    grpc_address, client = served
    reply = await client.get("/v1/items/42")
    assert (reply.status_code, reply.text) == (200, "item 42")
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        assert await channel.unary_unary(f"/{SERVICE}/Echo")(b"hi", timeout=5) == b"hi"
    assert (await client.get("/healthz")).json() == {"status": "alive"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert (await client.post("/healthz")).status_code == 405


async def test_no_http_without_an_app_or_when_disabled() -> None:
    async with serve_in_process(make_build(), ServiceSettings()) as running:
        assert running.http is None and running.http_address is None
    disabled = ServiceSettings(http_enabled=False)
    async with serve_in_process(make_build(http_app=make_http_app()), disabled) as running:
        assert running.http_address is None


async def test_declared_too_large_body_is_refused_before_it_is_sent(
    served: tuple[str, httpx.AsyncClient],
) -> None:
    _, client = served
    address = str(client.base_url).removeprefix("http://").rstrip("/")
    # Only the headers go out: the answer cannot depend on reading the body.
    status = await _status_line(
        address,
        b"POST /v1/batch HTTP/1.1\r\nhost: test\r\ncontent-length: 50000000\r\n\r\n",
    )
    assert status.startswith(b"HTTP/1.1 413")


async def test_streamed_too_large_body_is_413(served: tuple[str, httpx.AsyncClient]) -> None:
    _, client = served

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to go by
        for _ in range(4):
            yield b"x" * 1500

    assert (await client.post("/v1/batch", content=chunks())).status_code == 413
    within = await client.post("/v1/batch", content=b"y" * LIMIT)
    assert within.json()["bytes"] == LIMIT


async def test_gzip_bodies(served: tuple[str, httpx.AsyncClient]) -> None:
    import gzip

    _, client = served
    gz = {"content-encoding": "gzip"}
    reply = await client.post("/v1/batch", content=gzip.compress(b'{"batch": []}'), headers=gz)
    assert reply.json() == {"bytes": 13, "head": '{"batch": []}'}
    two_members = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert (await client.post("/v1/batch", content=two_members, headers=gz)).json()["head"] == (
        "abcd"
    )
    # Small when compressed (under the limit), far over it once inflated.
    bomb = gzip.compress(bytes(3 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < LIMIT
    assert (await client.post("/v1/batch", content=bomb, headers=gz)).status_code == 413
    assert (await client.post("/v1/batch", content=b"not gzip", headers=gz)).status_code == 400
    truncated = gzip.compress(b"abcdef" * 100)[:-6]
    assert (await client.post("/v1/batch", content=truncated, headers=gz)).status_code == 400
    assert (await client.post("/v1/batch", content=b"", headers=gz)).status_code == 400
    brotli = {"content-encoding": "br"}
    assert (await client.post("/v1/batch", content=b"x", headers=brotli)).status_code == 415


async def test_access_log_has_the_route_template_never_the_path_or_query(
    served: tuple[str, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = served
    caplog.set_level(logging.INFO, logger="rapport.access")
    url = "/v1/workspaces/brand-b/things/t-1?email=ada%40example.com&token=s3cret"
    assert (await client.get(url)).status_code == 200
    assert (await client.post("/v1/items/7")).status_code == 405
    assert (await client.get("/nowhere/ada")).status_code == 404
    lines = [r for r in caplog.records if r.name == "rapport.access"]
    assert [(r.method, r.route, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/v1/workspaces/{workspace}/things/{thing}", 200),
        ("POST", "/v1/items/{item}", 405),
        ("GET", None, 404),
    ]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    formatted = [json.loads(jsonlogs.JsonFormatter("test").format(r)) for r in lines]
    assert formatted[0]["route"] == "/v1/workspaces/{workspace}/things/{thing}"
    text = " ".join(map(json.dumps, formatted))
    for leaked in ("?", "ada", "s3cret", "brand-b", "t-1", "email"):
        assert leaked not in text


async def test_probes_log_at_debug(
    served: tuple[str, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = served
    caplog.set_level(logging.INFO, logger="rapport.access")
    await client.get("/readyz")
    assert not [r for r in caplog.records if r.name == "rapport.access"]


async def test_handler_exception_is_a_generic_500_and_logged(
    served: tuple[str, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = served
    reply = await client.get("/boom")
    assert reply.status_code == 500
    for leaked in ("leaked", "ada@example.com", "Traceback", "RuntimeError", "app.py"):
        assert leaked not in reply.text
    [error] = [r for r in caplog.records if r.name == "rapport.errors"]
    assert error.exc_info is not None and error.route == "/boom"  # type: ignore[attr-defined]
    # The server goes on serving.
    assert (await client.get("/v1/items/1")).status_code == 200


async def test_raw_asgi_app_failure_is_answered_by_the_runtime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise KeyError("customer ada@example.com")

    caplog.set_level(logging.INFO, logger="rapport.access")
    async with serve_in_process(make_build(http_app=failing), ServiceSettings()) as running:
        async with httpx.AsyncClient(base_url=f"http://{running.http_address}") as client:
            reply = await client.get("/anything")
    assert (reply.status_code, reply.json()) == (500, {"error": "internal error"})
    [access] = [r for r in caplog.records if r.name == "rapport.access"]
    assert (access.status, access.route) == (500, None)  # type: ignore[attr-defined]


async def test_debug_app_is_refused() -> None:
    with pytest.raises(ValueError, match="debug"):
        async with serve_in_process(make_build(http_app=Starlette(debug=True)), ServiceSettings()):
            pass


async def test_busy_http_port_fails_start_and_releases_grpc() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        settings = ServiceSettings(http_port=busy)
        parts = await make_build(http_app=make_http_app())(settings)
        with pytest.raises(OSError):
            await start(parts, settings)


async def test_drain_readiness_in_flight_and_refusal() -> None:
    drain = 1.5
    gate = Gate()
    settings = ServiceSettings(drain_seconds=drain, grace_seconds=10)
    server = await start(await make_build(http_app=make_http_app(gate))(settings), settings)
    assert server.http_address is not None
    host, port = server.http_address.rsplit(":", 1)
    async with httpx.AsyncClient(base_url=f"http://{server.http_address}", timeout=10) as client:
        assert (await client.get("/readyz")).status_code == 200
        in_flight = asyncio.ensure_future(client.get("/v1/slow"))
        await asyncio.wait_for(gate.entered.wait(), 5)

        began = time.monotonic()
        stopping = asyncio.ensure_future(server.stop())  # the settings' drain and grace

        async def not_ready() -> bool:
            return (await client.get("/readyz")).status_code == 503

        await eventually(not_ready, timeout=drain / 3)
        # Inside the drain window: liveness and the app are still served.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/v1/items/during-drain")).status_code == 200

        async def refused() -> bool:
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                return True
            writer.close()
            return False

        await eventually(refused, timeout=drain + 3)
        assert time.monotonic() - began >= drain
        # The listener is gone, the request in flight is still being answered.
        assert not in_flight.done() and not stopping.done()
        gate.opened.set()
        reply = await in_flight
        assert (reply.status_code, reply.text) == (200, "finished")
        await asyncio.wait_for(stopping, 5)


async def test_request_past_grace_is_cut_and_stop_returns() -> None:
    gate = Gate()  # never opened
    settings = ServiceSettings(drain_seconds=0, grace_seconds=0.5)
    server = await start(await make_build(http_app=make_http_app(gate))(settings), settings)
    async with httpx.AsyncClient(base_url=f"http://{server.http_address}", timeout=10) as client:
        in_flight = asyncio.ensure_future(client.get("/v1/slow"))
        await asyncio.wait_for(gate.entered.wait(), 5)
        began = time.monotonic()
        await server.stop()
        assert time.monotonic() - began < 0.5 + 2
        try:
            reply = await in_flight
        except httpx.HTTPError:
            pass  # the connection was cut
        else:
            assert reply.status_code == 500


async def test_accepted_connections_have_tcp_nodelay() -> None:
    # Without it a response's body waits ~40 ms (Nagle + delayed ACK) behind its headers.
    from rapport.httpserver._server import _bind

    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Record(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    listener = _bind("127.0.0.1", 0)
    server = await asyncio.get_running_loop().create_server(Record, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        assert await asyncio.wait_for(accepted, 5) == 1
        writer.close()
