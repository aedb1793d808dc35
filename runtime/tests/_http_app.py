"""A small Starlette app served next to the echo service (ServiceParts.http_app)."""

from __future__ import annotations

import asyncio

from rapport.httpserver import basic_credentials, read_body
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route


class Gate:
    """Holds /v1/slow until the test opens it; tells the test when a request waits."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()


def make_http_app(gate: Gate | None = None) -> Starlette:
    async def item(request: Request) -> Response:
        return PlainTextResponse(f"item {request.path_params['item']}")

    async def thing(request: Request) -> Response:
        params = request.path_params
        return PlainTextResponse(f"{params['workspace']}/{params['thing']}")

    async def batch(request: Request) -> Response:
        body = await read_body(request)
        return JSONResponse({"bytes": len(body), "head": body[:16].decode("latin-1")})

    async def whoami(request: Request) -> Response:
        credentials = basic_credentials(request)
        if credentials is None:
            return Response(status_code=401, headers={"www-authenticate": 'Basic realm="test"'})
        return JSONResponse({"username": credentials.username})

    async def slow(request: Request) -> Response:
        assert gate is not None
        gate.entered.set()
        await gate.opened.wait()
        return PlainTextResponse("finished")

    async def boom(request: Request) -> Response:
        raise RuntimeError("leaked secret ada@example.com at /srv/app.py")

    return Starlette(
        routes=[
            Route("/v1/items/{item}", item),
            Route("/v1/batch", batch, methods=["POST"]),
            Route("/v1/whoami", whoami),
            Route("/v1/slow", slow),
            Route("/boom", boom),
            Mount("/v1/workspaces/{workspace}", routes=[Route("/things/{thing}", thing)]),
        ]
    )
