"""A stand-in HTTP provider the tests start on 127.0.0.1 (an ephemeral port) and stop.

It records every request and answers from a script: a list of Reply (status, JSON,
delay) used in order, then `default`. Replies can honour idempotency keys as the
real providers are assumed to: a repeated Idempotency-Key gets the first answer
again and is recorded as a repeat, not a new send.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from rapport.config import ServiceSettings
from rapport.httpserver import RunningHttpServer, start
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    # Seconds to wait before answering (past the client's timeout: an ambiguous outcome).
    delay: float = 0.0
    # Whether a request answered with this counts as taken (for idempotency).
    taken: bool | None = None

    @property
    def accepts(self) -> bool:
        return self.taken if self.taken is not None else 200 <= self.status < 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StandIn:
    default: Callable[[Received], Reply] = lambda _: Reply(200, {})
    script: list[Reply] = field(default_factory=list)
    honour_idempotency_keys: bool = True
    # When given, every answer waits until it is set: the provider has the message,
    # delivery does not have the provider's answer yet.
    gate: asyncio.Event | None = None
    received: list[Received] = field(default_factory=list)
    # Requests taken for the first time under their key: what a customer would receive.
    taken: list[Received] = field(default_factory=list)
    _answers: dict[str, Reply] = field(default_factory=dict)
    _server: RunningHttpServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    async def _handle(self, request: Request) -> Response:
        got = Received(request.url.path, dict(request.headers), await request.body())
        self.received.append(got)
        key = got.headers.get("idempotency-key", "")
        if self.honour_idempotency_keys and key in self._answers:
            reply = self._answers[key]
        else:
            reply = self.script.pop(0) if self.script else self.default(got)
            if reply.accepts:
                self.taken.append(got)
                if key:
                    # A repeat is answered at once from what was stored.
                    self._answers[key] = replace(reply, delay=0.0)
        if self.gate is not None:
            await self.gate.wait()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.body is None:
            return Response(status_code=reply.status)
        return JSONResponse(reply.body, status_code=reply.status)

    async def start(self) -> StandIn:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

        async def ready() -> bool:
            return True

        settings = ServiceSettings(host="127.0.0.1", http_port=0, log_format="text")
        self._server = await start(app, settings, ready=ready)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=0)
