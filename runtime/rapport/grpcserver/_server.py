"""Server assembly: interceptors, health, reflection, TLS, background tasks, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from rapport import eventloop, httpserver, jsonlogs, tracing
from rapport.config import ServiceSettings
from starlette.types import ASGIApp

from ._access_log import AccessLogInterceptor
from ._auth import AuthInterceptor
from ._deadline import DeadlineInterceptor
from ._error_mapping import ErrorMappingInterceptor
from ._heap import settle_heap
from ._in_flight import InFlightInterceptor
from ._reflection import enable_reflection
from ._request_decoding import RequestDecodingInterceptor
from ._response_size import ResponseSizeInterceptor

__all__ = ["HealthServicer", "RunningServer", "ServiceParts", "run", "start"]

_log = logging.getLogger("rapport.grpcserver")

# The grpc.aio flavour of the library's health servicer (its set() is async).
HealthServicer = health_aio.HealthServicer

S = TypeVar("S", bound=ServiceSettings)

# How long stopping waits for handlers of cancelled calls to end before on_close.
_HANDLER_SETTLE_SECONDS = 5.0


@dataclass
class ServiceParts:
    """What a service's ``build(settings)`` hands to the runtime."""

    register: list[Callable[[GenericHandlersOnly], None]]
    service_names: list[str]
    error_domain: str
    # Full method name -> scope required. With auth on, a method not listed here
    # is refused whatever the token (default deny); health and reflection stay open.
    method_scopes: dict[str, str] = field(default_factory=dict)
    # Started once SERVING, cancelled first on stop.
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Run after the server stopped (dispose engines, close channels).
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # An ASGI app (Starlette) served next to gRPC by rapport.httpserver, unless
    # settings.http_enabled is off.
    http_app: ASGIApp | None = None


class RunningServer:
    """A started server; ``stop()`` drains it, then stops it."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        host: str,
        health: HealthServicer,
        parts: ServiceParts,
        settings: ServiceSettings,
        in_flight: InFlightInterceptor,
    ) -> None:
        self.server = server
        self._in_flight = in_flight
        self.port = port
        self.address = f"{_host_for_clients(host)}:{port}"
        self.health = health
        self._parts = parts
        self._settings = settings
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Task[None] | None = None
        self.http: httpserver.RunningHttpServer | None = None
        self.http_address: str | None = None

    async def _start_http(self) -> None:
        if self._parts.http_app is None or not self._settings.http_enabled:
            return
        self.http = await httpserver.start(
            self._parts.http_app, self._settings, ready=self._serving
        )
        host = self._settings.http_host or self._settings.host
        self.http_address = f"{_host_for_clients(host)}:{self.http.port}"

    async def _serving(self) -> bool:
        # The readiness probe: SERVING until the drain begins. "" always exists,
        # so Check never needs a call context.
        reply = await self.health.Check(health_pb2.HealthCheckRequest(service=""), None)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def _start_background(self) -> None:
        for job in self._parts.background:
            task = asyncio.create_task(self._guard(job), name=getattr(job, "__name__", "job"))
            self._tasks.append(task)

    async def _guard(self, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A crashed background loop must be visible, not silently gone.
            _log.exception("background task failed", extra={"action": repr(job)})

    async def stop(self, grace: float | None = None, drain: float | None = None) -> None:
        """NOT_SERVING (HTTP /readyz: 503); keep serving for ``drain`` seconds; cancel
        background tasks; stop gRPC and HTTP with ``grace`` for in-flight calls and
        requests; run on_close hooks.

        The drain lets readiness probes see NOT_SERVING and take the pod out of
        the endpoints before new calls are refused. ``None`` uses
        ``settings.drain_seconds`` / ``settings.grace_seconds``. Concurrent and
        repeated calls wait for the same shutdown.
        """
        if self._stopping is None:
            if grace is None:
                grace = self._settings.grace_seconds
            if drain is None:
                drain = self._settings.drain_seconds
            self._stopping = asyncio.ensure_future(self._stop(grace, drain))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float, drain: float) -> None:
        await self.health.enter_graceful_shutdown()
        if drain > 0:
            await asyncio.sleep(drain)
        # Background tasks, gRPC and HTTP stop together, each given the same grace.
        await asyncio.gather(
            self._stop_background(grace),
            self.server.stop(grace),
            *([self.http.stop(grace)] if self.http else []),
        )
        # Handlers of calls grpc just cancelled may still be ending (a query in
        # flight): what they use is closed only after them.
        await self._in_flight.settle(wait_seconds=_HANDLER_SETTLE_SECONDS)
        for hook in self._parts.on_close:
            try:
                await hook()
            except Exception:
                _log.exception("on_close hook failed", extra={"action": repr(hook)})
        _log.info("stopped", extra={"port": self.port})

    async def _stop_background(self, grace: float) -> None:
        """Cancel the background tasks and wait for them, ``grace`` seconds at most
        (a floor of one): a task that swallows its cancel (a library's Python 3.11
        ``wait_for`` may) is logged and left, so the process still stops."""
        for task in self._tasks:
            task.cancel()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=max(grace, 1.0))
        if pending:
            _log.warning(
                "background tasks did not end when cancelled; stopping without them",
                extra={"action": ", ".join(sorted(task.get_name() for task in pending))},
            )
            for task in pending:
                task.cancel()  # once more: a cancel lost once is often taken the next time

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()
        if self._stopping is not None:
            await asyncio.shield(self._stopping)


def _host_for_clients(host: str) -> str:
    # A wildcard bind is reachable on loopback; IPv6 literals need brackets.
    if host in ("", "0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def _server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ValueError("tls_cert_file and tls_key_file must be set together")
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _options(settings: ServiceSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Detect dead peers on idle long-lived streams (Watch*), but let
        # well-behaved clients ping no more often than every 10 s.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        # grpc sets SO_REUSEPORT by default: a second process on a taken port would start
        # and silently split the calls (and their data) with the first.
        ("grpc.so_reuseport", 0),
    ]


class GenericHandlersOnly:
    """The server as servicer registration sees it: methods served by generic handlers.

    grpc.aio keeps one pending call per registered method, and its accept loop runs
    asyncio.wait over all of them for every call it accepts: each call paid for the
    size of the contracts on the server (about 30 methods for decisioning). The
    generated ``add_*_to_server`` adds a generic handler for the same methods before
    registering them, so skipping the registration serves every method through one
    pending call.
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: tuple[grpc.GenericRpcHandler, ...]
    ) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        """Skipped: the generic handler added just before serves these methods."""


async def start(parts: ServiceParts, settings: ServiceSettings) -> RunningServer:
    """Build, bind and start the server; SERVING once it listens."""
    # Outermost first. The last two raise RapportErrors, so they sit inside
    # ErrorMappingInterceptor, which maps them.
    in_flight = InFlightInterceptor()
    interceptors: list[grpc.aio.ServerInterceptor] = [in_flight, AccessLogInterceptor()]
    if settings.auth_tokens:
        interceptors.append(
            AuthInterceptor(settings.auth_tokens, parts.method_scopes, parts.error_domain)
        )
    interceptors += [
        DeadlineInterceptor(),
        ErrorMappingInterceptor(parts.error_domain),
        RequestDecodingInterceptor(),
        ResponseSizeInterceptor(settings.max_message_bytes),
    ]

    # Looked up at call time so the OpenTelemetry instrumentation can patch it.
    server = grpc.aio.server(interceptors=interceptors, options=_options(settings))
    registration = GenericHandlersOnly(server)
    for register in parts.register:
        register(registration)

    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, registration)
    await health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    for name in parts.service_names:
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    enable_reflection(
        registration,
        [*parts.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
    )

    bind = f"{settings.host}:{settings.port}"
    credentials = _server_credentials(settings)
    port = (
        server.add_secure_port(bind, credentials)
        if credentials is not None
        else server.add_insecure_port(bind)
    )
    if port == 0:
        raise RuntimeError(f"could not bind {bind}")
    await server.start()

    running = RunningServer(server, port, settings.host, health, parts, settings, in_flight)
    for name in ("", *parts.service_names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    try:
        await running._start_http()
    except BaseException:
        await server.stop(0)
        raise
    running._start_background()
    settle_heap()
    _log.info(
        "serving",
        extra={"port": port, "address": running.address, "service_names": parts.service_names},
    )
    return running


def run(build: Callable[[S], Awaitable[ServiceParts]], settings: S) -> None:
    """Process entry point: logs, tracing, serve until SIGTERM/SIGINT, drain, exit 0."""
    jsonlogs.configure(settings.service_name, settings.log_level, settings.log_format)
    tracing.configure(settings.service_name, settings.tracing_exporter, settings.otlp_endpoint)
    try:
        eventloop.run(_serve(build, settings), settings.event_loop)
    except Exception:
        # Keep start-up failures (bad settings, unreachable database) in JSON too.
        _log.critical("service failed", exc_info=True)
        raise SystemExit(1) from None
    finally:
        tracing.shutdown()


async def _serve(build: Callable[[S], Awaitable[ServiceParts]], settings: S) -> None:
    parts = await build(settings)
    server = await start(parts, settings)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # e.g. Windows
            loop.add_signal_handler(sig, stop_requested.set)
    terminated = asyncio.create_task(server.wait_for_termination())
    stop_wait = asyncio.create_task(stop_requested.wait())
    await asyncio.wait({terminated, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    stop_wait.cancel()
    # Inside stop: NOT_SERVING, drain_seconds of normal serving so probes notice,
    # then grace_seconds for in-flight calls.
    _log.info("draining", extra={"port": server.port})
    # A server that already terminated has nobody left to drain for.
    await server.stop(drain=0 if terminated.done() else None)
    terminated.cancel()
