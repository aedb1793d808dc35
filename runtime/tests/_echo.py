"""A tiny raw-bytes test service registered through ServiceParts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from rapport.config import ServiceSettings
from rapport.errors import InvalidArgument, NotFound
from rapport.grpcclients import open_channel
from rapport.grpcserver import ServiceParts, current_deadline_remaining

SERVICE = "test.Echo"
DOMAIN = "rapport.test.v1"


async def echo(request: bytes, context: Any) -> bytes:
    return request


async def fail(request: bytes, context: Any) -> bytes:
    raise InvalidArgument("identifiers[0].value", "must not be empty")


async def boom(request: bytes, context: Any) -> bytes:
    raise RuntimeError("leaked secret alice@example.com")


async def not_built(request: bytes, context: Any) -> bytes:
    raise NotImplementedError("Method not implemented!")


async def slow(request: bytes, context: Any) -> bytes:
    await asyncio.sleep(float(request.decode() or "0.5"))
    return b"done"


async def deadline(request: bytes, context: Any) -> bytes:
    remaining = current_deadline_remaining()
    return b"none" if remaining is None else repr(remaining).encode()


async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for i in range(3):
        yield f"{i}".encode()


async def stream_deadline(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield await deadline(request, context)


async def stream_fail(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"first"
    raise NotFound("workspaces/default/customers/x")


def make_build(relay_to: str | None = None, **part_kwargs: Any) -> Any:
    async def relay(request: bytes, context: Any) -> bytes:
        assert relay_to is not None
        own = current_deadline_remaining()
        async with open_channel(relay_to, relay_settings) as channel:
            theirs = await channel.unary_unary(f"/{SERVICE}/Deadline")(b"")
        return f"{own!r}|{theirs.decode()}".encode()

    relay_settings = ServiceSettings()

    async def build(settings: ServiceSettings) -> ServiceParts:
        handlers = {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Boom": grpc.unary_unary_rpc_method_handler(boom),
            "NotBuilt": grpc.unary_unary_rpc_method_handler(not_built),
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
            "Deadline": grpc.unary_unary_rpc_method_handler(deadline),
            "Relay": grpc.unary_unary_rpc_method_handler(relay),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "StreamFail": grpc.unary_stream_rpc_method_handler(stream_fail),
            "StreamDeadline": grpc.unary_stream_rpc_method_handler(stream_deadline),
        }
        generic = grpc.method_handlers_generic_handler(SERVICE, handlers)
        return ServiceParts(
            register=[lambda server: server.add_generic_rpc_handlers((generic,))],
            service_names=[SERVICE],
            error_domain=DOMAIN,
            **part_kwargs,
        )

    return build
