"""Server interceptors, each doing one thing.

Every interceptor that acts per call re-wraps the handler's behaviour
(``wrap_handler``) for all four handler kinds: an async context manager around
the call, and optional hooks that see each request message and each response
before grpc serializes it. Server-streaming behaviours that are async
generators stay async generators.
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from rapport.config import TokenGrant
from rapport.deadlines import reset_deadline, set_deadline
from rapport.errors import (
    InvalidArgument,
    PermissionDenied,
    RapportError,
    ResourceExhausted,
    Unauthenticated,
)

from ._status import to_grpc_status
from ._workspaces import named_workspaces

Around = Callable[[grpc.aio.ServicerContext, str], AbstractAsyncContextManager[None]]
# Sees each request message before the behaviour does; may abort or raise.
OnRequest = Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]
# Maps each response (unary result or stream item) before grpc serializes it.
OnResponse = Callable[[Any], Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]

_access_log = logging.getLogger("rapport.access")
_error_log = logging.getLogger("rapport.errors")

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
    around = hooks.around or _nothing

    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around(context, hooks.method):
            request = await _prepare(request, context, hooks, streaming)
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
            # None: streams written with context.write(), or a status set by hand.
            if hooks.on_response is not None and result is not None:
                result = hooks.on_response(result)
            return result

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


def _code_name(code: Any) -> str:
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    # grpc.aio may report the raw integer value.
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


def _ended_early(context: grpc.aio.ServicerContext) -> str:
    # grpc cancels the call's task for both; only the clock tells them apart.
    remaining = context.time_remaining()
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


class _CallRecord:
    """What the access log learns about one call, written when the call really ended."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.start = time.perf_counter()
        self.code: str | None = None  # set when the behaviour ended with an exception
        # The behaviour returned or aborted: context.code() is its final word.
        self.settled = False
        # The log line is written from grpc's done callback: keep the call's
        # context (its trace span) for it.
        self.log_context = contextvars.copy_context()

    def done(self, context: grpc.aio.ServicerContext) -> None:
        self.log_context.run(self._log, context)

    def _log(self, context: grpc.aio.ServicerContext) -> None:
        if self.code is not None:
            code = self.code
        elif not self.settled or not context.done():
            # The call ended while the behaviour was suspended (a stream whose
            # client went away), or before grpc could send the final status.
            code = _ended_early(context)
        else:
            code = _code_name(context.code())
        level = logging.DEBUG if self.method.startswith(OPEN_SERVICE_PREFIXES) else logging.INFO
        if _access_log.isEnabledFor(level):
            _access_log.log(
                level,
                "rpc",
                extra={
                    "method": self.method,
                    "code": code,
                    "duration_ms": round((time.perf_counter() - self.start) * 1000, 3),
                },
            )


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    """One line per call: method, final code, duration_ms. Never payloads or metadata.

    The line is written by grpc's done callback, once the call really ended.
    What that callback cannot see: a final send that grpc core fails after the
    behaviour returned (e.g. the peer vanished just then) still reads as the
    code the behaviour ended with.
    """

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        return wrap_handler(handler, details.method, self._around)

    @staticmethod
    @asynccontextmanager
    async def _around(context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
        record = _CallRecord(method)
        context.add_done_callback(record.done)
        try:
            yield
        except grpc.aio.AbortError:
            record.settled = True  # context.code() holds the status sent
            raise
        except Exception:
            # Escaped every mapping: grpc itself answers UNKNOWN.
            record.code = "UNKNOWN"
            raise
        except BaseException:
            # Cancelled task (client gone, deadline) or an abandoned stream.
            record.code = _ended_early(context)
            raise
        else:
            record.settled = True


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer tokens with scopes and workspaces; default deny; health and reflection open.

    A method missing from ``method_scopes`` is refused whatever the token. A
    token limited to some workspaces may only send requests whose names
    (``named_workspaces``) stay in them. Tokens are looked up by SHA-256 digest
    so the lookup time does not depend on how much of a guessed token matches.
    """

    def __init__(
        self,
        tokens: Mapping[str, TokenGrant | list[str]],
        method_scopes: Mapping[str, str],
        domain: str,
    ) -> None:
        self._grants = {
            _digest(t): g if isinstance(g, TokenGrant) else TokenGrant(frozenset(g))
            for t, g in tokens.items()
        }
        self._method_scopes = dict(method_scopes)
        self._domain = domain

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_SERVICE_PREFIXES):
            return handler
        grant = self._authorize(method, details.invocation_metadata or ())
        if isinstance(grant, RapportError):
            status = to_grpc_status(grant, self._domain)

            @asynccontextmanager
            async def reject(context: grpc.aio.ServicerContext, _m: str) -> AsyncIterator[None]:
                await context.abort_with_status(status)
                yield  # pragma: no cover - abort always raises

            return wrap_handler(handler, method, reject)
        if grant.all_workspaces:
            return handler  # nothing to check per request

        async def check_workspaces(request: Any, context: grpc.aio.ServicerContext) -> None:
            outside = named_workspaces(request) - grant.workspaces
            if outside:
                workspace = min(outside)
                error = PermissionDenied(
                    "WORKSPACE_NOT_ALLOWED",
                    f"token is not allowed in workspaces/{workspace}",
                    {"workspace": workspace, "method": method},
                )
                await context.abort_with_status(to_grpc_status(error, self._domain))

        return wrap_handler(handler, method, on_request=check_workspaces)

    def _authorize(self, method: str, metadata: Any) -> TokenGrant | RapportError:
        header = next((m[1] for m in metadata if m[0] == "authorization"), None)
        if not isinstance(header, str):
            return Unauthenticated("MISSING_TOKEN", "missing bearer token")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Unauthenticated("MISSING_TOKEN", "authorization must be 'Bearer <token>'")
        grant = self._grants.get(_digest(token.strip()))
        if grant is None:
            return Unauthenticated("INVALID_TOKEN", "unknown bearer token")
        needed = self._method_scopes.get(method)
        if needed is None:
            # Default deny: a method nobody classified is open to no one.
            return PermissionDenied(
                "METHOD_NOT_IN_POLICY", f"{method} is not open to any token", {"method": method}
            )
        if grant.has_scope(needed):
            return grant
        return PermissionDenied(
            "MISSING_SCOPE",
            f"token lacks scope {needed!r}",
            {"scope": needed, "method": method},
        )


class DeadlineInterceptor(grpc.aio.ServerInterceptor):
    """Keeps the incoming deadline in a contextvar for outbound calls."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        return wrap_handler(handler, details.method, self._around)

    @staticmethod
    @asynccontextmanager
    async def _around(context: grpc.aio.ServicerContext, _method: str) -> AsyncIterator[None]:
        remaining = context.time_remaining()
        # Absurdly large values mean "no deadline" on some grpc versions.
        if remaining is not None and remaining > 10**8:
            remaining = None
        token = set_deadline(remaining)
        try:
            yield
        finally:
            reset_deadline(token)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """RapportError -> its status with one ErrorInfo; anything else -> INTERNAL."""

    def __init__(self, domain: str) -> None:
        self._domain = domain

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        return wrap_handler(handler, details.method, self._around)

    @asynccontextmanager
    async def _around(self, context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
        try:
            yield
        except grpc.aio.AbortError:
            raise  # the handler aborted with its own status
        except RapportError as err:
            await context.abort_with_status(to_grpc_status(err, self._domain))
        except NotImplementedError:
            # The generated servicer base raises it for RPCs not built yet.
            await context.abort_with_status(to_grpc_status(_Unimplemented(method), self._domain))
        except Exception:
            # The message may contain anything (even input); log it, never send it.
            _error_log.exception("unhandled error", extra={"method": method})
            await context.abort_with_status(to_grpc_status(_Internal(), self._domain))


class _Undecodable:
    """Stands in for a request whose bytes did not parse (never holds the bytes)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _message_type_name(deserializer: Callable[[bytes], Any]) -> str:
    # Generated handlers pass ``RequestType.FromString``: a method bound to the class.
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", None) or "request"


class RequestDecodingInterceptor(grpc.aio.ServerInterceptor):
    """Undecodable request bytes -> INVALID_ARGUMENT (MALFORMED_REQUEST), never UNKNOWN.

    grpc decodes the request before any behaviour runs and answers UNKNOWN
    (quoting the parser's error) when that fails. The deserializer is wrapped to
    return a marker instead, and the behaviour wrapper raises InvalidArgument
    for it; place this inside ErrorMappingInterceptor, which maps it.
    """

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler  # raw bytes: nothing to decode
        decode = handler.request_deserializer
        type_name = _message_type_name(decode)

        def tolerant(raw: bytes) -> Any:
            try:
                return decode(raw)
            except (DecodeError, UnicodeDecodeError):  # the latter: pure-Python protobuf
                return _Undecodable(type_name)

        return wrap_handler(
            handler, details.method, on_request=_refuse_undecodable, request_deserializer=tolerant
        )


async def _refuse_undecodable(request: Any, _context: grpc.aio.ServicerContext) -> None:
    if isinstance(request, _Undecodable):
        # The parser's own message is not sent: it may quote the bytes.
        error = InvalidArgument(
            "",
            f"the request is not a valid {request.type_name} message",
            reason="MALFORMED_REQUEST",
        )
        error.metadata["request_type"] = request.type_name
        raise error


class _Encoded:
    """A response already serialized (and measured) by ResponseSizeInterceptor."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


class ResponseSizeInterceptor(grpc.aio.ServerInterceptor):
    """A response or stream item over the send limit -> RESOURCE_EXHAUSTED, not a broken call.

    grpc would only notice the size while sending, after the behaviour returned,
    and fail the call with a bare transport error. Responses are serialized here,
    inside the behaviour, so the limit becomes a RapportError (mapped by
    ErrorMappingInterceptor, which must be outside this one); the serializer
    handed to grpc passes the bytes through. Writes through ``context.write()``
    are checked by that serializer, inside the behaviour too.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        serialize = handler.response_serializer

        def encode(response: Any) -> _Encoded:
            raw = response if serialize is None else serialize(response)
            if len(raw) > self._max:
                raise ResourceExhausted(
                    "RESPONSE_TOO_LARGE",
                    f"the response would be {len(raw)} bytes, over the limit of {self._max}; "
                    "ask for less (e.g. a smaller page_size)",
                    {"size": str(len(raw)), "limit": str(self._max)},
                )
            return _Encoded(raw)

        def pass_through(response: Any) -> bytes:
            if type(response) is _Encoded:
                return response.raw
            return encode(response).raw

        return wrap_handler(
            handler, details.method, on_response=encode, response_serializer=pass_through
        )


class _Unimplemented(RapportError):
    code = "UNIMPLEMENTED"

    def __init__(self, method: str) -> None:
        super().__init__("NOT_IMPLEMENTED", f"{method} is not implemented yet", {"method": method})


class _Internal(RapportError):
    code = "INTERNAL"

    def __init__(self) -> None:
        super().__init__("INTERNAL", "internal error")
