"""uvicorn inside the service's own asyncio loop: bind, serve, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from rapport.config import ServiceSettings
from starlette.types import ASGIApp

from ._app import ServiceApp

__all__ = ["RunningHttpServer", "start"]

_log = logging.getLogger("rapport.httpserver")
# How long stop() waits for handlers cancelled at the end of grace to unwind.
_UNWIND_SECONDS = 1.0


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the runtime owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RunningHttpServer:
    """A started HTTP server; ``stop(grace)`` stops accepting, then finishes requests."""

    def __init__(self, server: _EmbeddedServer, task: asyncio.Task[None], port: int) -> None:
        self.port = port
        self._server = server
        self._task = task

    async def stop(self, grace: float) -> None:
        """Close the listener and idle keep-alive connections; give requests in flight
        ``grace`` seconds, then cancel them. Repeated calls wait for the same stop."""
        if not self._task.done():
            # uvicorn reads both on its next tick (every 0.1 s). A zero timeout
            # would report a timeout even with nothing in flight.
            self._server.config.timeout_graceful_shutdown = max(grace, 0.001)  # type: ignore[assignment]
            self._server.should_exit = True
        # Waits without raising: a failure was logged by _report_end.
        await asyncio.wait({self._task})
        # Handlers cancelled when grace ran out still unwind; let them finish
        # before the service closes what they use (engines, channels).
        cancelled = set(self._server.server_state.tasks)
        if cancelled:
            await asyncio.wait(cancelled, timeout=_UNWIND_SECONDS)
        _log.info("http stopped", extra={"port": self.port})


def _bind(host: str, port: int) -> socket.socket:
    # Bound here, not by uvicorn: a failure raises OSError (uvicorn would
    # sys.exit), and port 0 gives one known ephemeral port.
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it a response's body waits ~40 ms behind its headers.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "::" accepts IPv4 too, like gRPC's "[::]".
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(bare != "::"))
        sock.bind((bare, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _config(app: ASGIApp, settings: ServiceSettings) -> uvicorn.Config:
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        raise ValueError("tls_cert_file and tls_key_file must be set together")
    return uvicorn.Config(
        app,
        http="h11",
        ws="none",
        # The service's resources belong to build() and on_close, not an ASGI lifespan.
        lifespan="off",
        # Logging is rapport.jsonlogs' (root handler); the runtime writes the
        # access log itself, with route templates instead of raw paths.
        log_config=None,
        log_level=logging.WARNING,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        # The server certificate of gRPC. Client certificates are not asked for:
        # HTTP callers are providers, SDKs and kubelet probes, authenticated
        # by write keys and signatures.
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )


async def start(
    app: ASGIApp, settings: ServiceSettings, *, ready: Callable[[], Awaitable[bool]]
) -> RunningHttpServer:
    """Serve ``app`` (behind probes, body limit, error guard, access log) on
    ``settings.http_host`` (default: ``settings.host``) and ``settings.http_port``."""
    wrapped = ServiceApp(app, ready=ready, max_body_bytes=settings.http_max_body_bytes)
    config = _config(wrapped, settings)
    sock = _bind(settings.http_host or settings.host, settings.http_port)
    port = sock.getsockname()[1]
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="rapport-http")
    try:
        # uvicorn offers no "started" event; startup only creates the listener.
        while not server.started:
            if task.done():
                task.result()  # raises why it failed
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.005)
    except BaseException:
        task.cancel()
        sock.close()
        raise
    task.add_done_callback(_report_end)
    _log.info("http serving", extra={"port": port})
    return RunningHttpServer(server, task, port)


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("http server failed", exc_info=task.exception())
