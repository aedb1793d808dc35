"""How the server interceptors (one module each, each doing one thing) wrap a handler.

Every interceptor that acts per call re-wraps the handler's behaviour
(``wrap_handler``) for all four handler kinds: an async context manager around
the call, and optional hooks that see each request message and each response
before grpc serializes it. Server-streaming behaviours that are async
generators stay async generators.
"""

from __future__ import annotations

import inspect
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc

Around = Callable[[grpc.aio.ServicerContext, str], AbstractAsyncContextManager[None]]
# Sees each request message before the behaviour does; may abort or raise.
OnRequest = Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]
# Maps each response (unary result or stream item) before grpc serializes it.
OnResponse = Callable[[Any], Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


# Probes and discovery stay open and are not access-logged at INFO.
OPEN_SERVICE_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_KEEP: Any = object()


@dataclass(frozen=True)
class _Hooks:
    method: str
    around: Around | None
    on_request: OnRequest | None
    on_response: OnResponse | None


@asynccontextmanager
async def _nothing(_context: grpc.aio.ServicerContext, _method: str) -> AsyncIterator[None]:
    yield


async def _checked_requests(
    requests: Any, context: grpc.aio.ServicerContext, on_request: OnRequest
) -> AsyncIterator[Any]:
    async for request in requests:
        await on_request(request, context)
        yield request


async def _prepare(
    request: Any, context: grpc.aio.ServicerContext, hooks: _Hooks, streaming: bool
) -> Any:
    if hooks.on_request is None:
        return request
    if streaming:
        return _checked_requests(request, context, hooks.on_request)
    await hooks.on_request(request, context)
    return request


def _wrap_unary_response(behavior: Callable[..., Any], hooks: _Hooks, streaming: bool) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        request = await _prepare(request, context, hooks, streaming)
        result = behavior(request, context)
        if inspect.isawaitable(result):
            result = await result
        # None: streams written with context.write(), or a status set by hand.
        if hooks.on_response is not None and result is not None:
            result = hooks.on_response(result)
        return result

    around = hooks.around
    if around is None:
        return call  # every call counts: no empty context manager around it

    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around(context, hooks.method):
            return await call(request, context)

    return wrapper


def _wrap_stream_response(behavior: Callable[..., Any], hooks: _Hooks, streaming: bool) -> Any:
    if not inspect.isasyncgenfunction(behavior):
        # Streams written with context.write() from a coroutine.
        return _wrap_unary_response(behavior, hooks, streaming)
    around = hooks.around or _nothing

    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with around(context, hooks.method):
            request = await _prepare(request, context, hooks, streaming)
            # aclosing: the service's generator is finalised now, not at garbage
            # collection, when a hook or the consumer stops the stream early.
            async with aclosing(behavior(request, context)) as items:
                async for item in items:
                    yield item if hooks.on_response is None else hooks.on_response(item)

    return wrapper


class WrappedPerMethod:
    """An interceptor's wrapped handlers, built once per method instead of on every call.

    What an interceptor wraps depends only on the method and the inner handler,
    which is the same object call after call (the registered handler, or the one
    an inner interceptor cached here too); a different inner handler rebuilds.
    Only methods a handler serves get here, so the memory is bounded by the contract.
    """

    def __init__(
        self, wrap: Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler | None]
    ) -> None:
        self._wrap = wrap
        self._built: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler | None]] = {}

    def get(self, handler: grpc.RpcMethodHandler | None, method: str) -> Any:
        if handler is None:
            return None
        built = self._built.get(method)
        if built is not None and built[0] is handler:
            return built[1]
        wrapped = self._wrap(handler, method)
        self._built[method] = (handler, wrapped)
        return wrapped


def wrap_handler(
    handler: grpc.RpcMethodHandler | None,
    method: str,
    around: Around | None = None,
    *,
    on_request: OnRequest | None = None,
    on_response: OnResponse | None = None,
    request_deserializer: Any = _KEEP,
    response_serializer: Any = _KEEP,
) -> grpc.RpcMethodHandler | None:
    """``handler`` with its behaviour wrapped: ``around`` the call, ``on_request`` for
    each request message, ``on_response`` for each response; the (de)serializers
    replaced when given. Outer interceptors copy whatever an inner one set.
    """
    if handler is None:
        return None
    hooks = _Hooks(method, around, on_request, on_response)
    ser = {
        "request_deserializer": handler.request_deserializer
        if request_deserializer is _KEEP
        else request_deserializer,
        "response_serializer": handler.response_serializer
        if response_serializer is _KEEP
        else response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary_response(handler.unary_unary, hooks, False), **ser
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_stream_response(handler.unary_stream, hooks, False), **ser
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary_response(handler.stream_unary, hooks, True), **ser
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream_response(handler.stream_stream, hooks, True), **ser
        )
    return handler


class AroundEachCall(grpc.aio.ServerInterceptor):
    """An interceptor that runs every call inside ``around(context, method)``, an async
    context manager (its wrapped handlers built once per method)."""

    def __init__(self) -> None:
        self._wrapped = WrappedPerMethod(
            lambda handler, method: wrap_handler(handler, method, self.around)
        )

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._wrapped.get(await continuation(details), details.method)

    @abstractmethod
    def around(
        self, context: grpc.aio.ServicerContext, method: str
    ) -> AbstractAsyncContextManager[None]:
        """What surrounds each call."""
