"""The ASGI layers the runtime puts around a service's app.

Outermost first: the access log and the error guard, the probes (/healthz,
/readyz), the request body limit, then the service's own app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rapport import jsonlogs
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LIVENESS_PATH", "READINESS_PATH", "ServiceApp"]

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
_PROBES = (LIVENESS_PATH, READINESS_PATH)

_access_log = logging.getLogger("rapport.access")
_error_log = logging.getLogger("rapport.errors")
# The route template ("/v1/unsubscribe/{token}") is what we log, never the
# concrete path: path parameters can be tokens or identifiers of people.
jsonlogs.allow_extra_keys("route")


class _Exchange:
    """What the access log learns about one request while it is answered."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self._send(message)


class ServiceApp:
    """The service's ASGI app behind the runtime's probes, body limit, guard and access log.

    ``ready`` answers the readiness probe (the gRPC health is SERVING);
    ``max_body_bytes`` is the default request body limit, answered 413 as soon as
    a declared Content-Length or the bytes received pass it (a Starlette route's
    own ``max_body_size`` overrides it for that route).
    """

    def __init__(
        self, app: ASGIApp, *, ready: Callable[[], Awaitable[bool]], max_body_bytes: int
    ) -> None:
        if getattr(app, "debug", False):
            # Starlette's debug page sends tracebacks to the client.
            raise ValueError("the HTTP app must not run with debug=True")
        self._app = app
        self._limited = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)
        self._ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Lifespan is off and websockets are not served: nothing else arrives.
            await self._app(scope, receive, send)
            return
        # Routers rewrite root_path and path_params in place; keep the request as it came.
        request_scope = dict(scope)
        exchange = _Exchange(send)
        start = time.perf_counter()
        failed = False
        try:
            if scope["path"] in _PROBES:
                await self._probe(scope, receive, exchange.send)
            else:
                await self._limited(scope, receive, exchange.send)
        except Exception:
            failed = True
            # The message may quote input; log it, never send it.
            _error_log.exception(
                "unhandled error",
                extra={"method": scope["method"], "route": self._route(request_scope)},
            )
            if exchange.status is None:
                await _internal_error(scope, receive, exchange.send)
        finally:
            self._log(request_scope, exchange.status, failed, start)

    async def _probe(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            response = JSONResponse({"error": "method not allowed"}, 405, {"allow": "GET, HEAD"})
        elif scope["path"] == LIVENESS_PATH:
            response = JSONResponse({"status": "alive"})
        elif await self._ready():
            response = JSONResponse({"status": "ready"})
        else:
            response = JSONResponse({"status": "not ready"}, 503)
        await response(scope, receive, send)

    def _log(self, scope: Scope, status: int | None, failed: bool, start: float) -> None:
        probe = scope["path"] in _PROBES
        level = logging.DEBUG if probe else logging.INFO
        if not _access_log.isEnabledFor(level):
            return
        if status is None or (failed and status < 500):
            # Nothing was answered (cancelled at the end of grace), or the app
            # failed mid-response: the client gets a 500 or a cut connection.
            status = 500
        _access_log.log(
            level,
            "http",
            extra={
                "method": scope["method"],
                "route": scope["path"] if probe else self._route(scope),
                "status": status,
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
            },
        )

    def _route(self, scope: Scope) -> str | None:
        return route_template(self._app, scope)


def route_template(app: Any, scope: Scope) -> str | None:
    """The template of the Starlette route ``scope`` reaches ("/v1/items/{item}").

    Walks the routes (through Mounts) the way the router does; None when nothing
    matches or the app has no Starlette routes.
    """
    scope = dict(scope)
    routes = getattr(app, "routes", None)
    prefix = ""
    while routes:
        chosen = None
        for route in routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                chosen = route, child_scope
                break
            if match is Match.PARTIAL and chosen is None:
                chosen = route, child_scope  # path matched, method did not: a 405
        if chosen is None:
            return None
        route, child_scope = chosen
        scope.update(child_scope)
        inner = getattr(route, "routes", None)
        if inner is None:  # an endpoint
            return prefix + getattr(route, "path_format", getattr(route, "path", ""))
        prefix += getattr(route, "path", "")  # a Mount (a Host has no path)
        if not inner:  # a mounted app that is not a router
            return prefix + "/{path}"
        routes = inner
    return None


async def _internal_error(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": "internal error"}, 500)(scope, receive, send)
