"""Server interceptors, each doing one thing.

Every interceptor that acts per call re-wraps the handler's behaviour with an
async context manager (``around``), for all four handler kinds; server
streaming behaviours that are async generators stay async generators.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import grpc
from rapport.deadlines import reset_deadline, set_deadline
from rapport.errors import PermissionDenied, RapportError, Unauthenticated

from ._status import to_grpc_status

Around = Callable[[grpc.aio.ServicerContext, str], AbstractAsyncContextManager[None]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]

_access_log = logging.getLogger("rapport.access")
_error_log = logging.getLogger("rapport.errors")

# Probes and discovery stay open and are not access-logged at INFO.
OPEN_SERVICE_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def _wrap_unary_response(behavior: Callable[..., Any], method: str, around: Around) -> Any:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with around(context, method):
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
            return result

    return wrapper


def _wrap_stream_response(behavior: Callable[..., Any], method: str, around: Around) -> Any:
    if not inspect.isasyncgenfunction(behavior):
        # Streams written with context.write() from a coroutine.
        return _wrap_unary_response(behavior, method, around)

    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with around(context, method):
            async for item in behavior(request, context):
                yield item

    return wrapper


def wrap_handler(
    handler: grpc.RpcMethodHandler | None, method: str, around: Around
) -> grpc.RpcMethodHandler | None:
    if handler is None:
        return None
    ser = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary_response(handler.unary_unary, method, around), **ser
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_stream_response(handler.unary_stream, method, around), **ser
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary_response(handler.stream_unary, method, around), **ser
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream_response(handler.stream_stream, method, around), **ser
        )
    return handler


def _final_code(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    # grpc.aio may report the raw integer value.
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    """One line per call: method, code, duration_ms. Never payloads or metadata."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        return wrap_handler(handler, details.method, self._around)

    @staticmethod
    @asynccontextmanager
    async def _around(context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
        start = time.perf_counter()
        code = None
        try:
            yield
        except grpc.aio.AbortError:
            raise
        except Exception:
            code = "UNKNOWN"
            raise
        except BaseException:
            code = "CANCELLED"  # client gone or deadline: the task was cancelled
            raise
        finally:
            level = logging.DEBUG if method.startswith(OPEN_SERVICE_PREFIXES) else logging.INFO
            if _access_log.isEnabledFor(level):
                _access_log.log(
                    level,
                    "rpc",
                    extra={
                        "method": method,
                        "code": code or _final_code(context),
                        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                    },
                )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer tokens with scopes; health and reflection stay open.

    Tokens are looked up by SHA-256 digest so the lookup time does not depend
    on how much of a guessed token matches.
    """

    def __init__(
        self, tokens: Mapping[str, list[str]], method_scopes: Mapping[str, str], domain: str
    ) -> None:
        self._scopes = {_digest(t): frozenset(s) for t, s in tokens.items()}
        self._method_scopes = dict(method_scopes)
        self._domain = domain

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_SERVICE_PREFIXES):
            return handler
        error = self._check(method, details.invocation_metadata or ())
        if error is None:
            return handler
        status = to_grpc_status(error, self._domain)

        @asynccontextmanager
        async def reject(context: grpc.aio.ServicerContext, _method: str) -> AsyncIterator[None]:
            await context.abort_with_status(status)
            yield  # pragma: no cover - abort always raises

        return wrap_handler(handler, method, reject)

    def _check(self, method: str, metadata: Any) -> RapportError | None:
        header = next((m[1] for m in metadata if m[0] == "authorization"), None)
        if not isinstance(header, str):
            return Unauthenticated("MISSING_TOKEN", "missing bearer token")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Unauthenticated("MISSING_TOKEN", "authorization must be 'Bearer <token>'")
        scopes = self._scopes.get(_digest(token.strip()))
        if scopes is None:
            return Unauthenticated("INVALID_TOKEN", "unknown bearer token")
        needed = self._method_scopes.get(method)
        if needed is None or needed in scopes or "*" in scopes:
            return None
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


class _Unimplemented(RapportError):
    code = "UNIMPLEMENTED"

    def __init__(self, method: str) -> None:
        super().__init__("NOT_IMPLEMENTED", f"{method} is not implemented yet", {"method": method})


class _Internal(RapportError):
    code = "INTERNAL"

    def __init__(self) -> None:
        super().__init__("INTERNAL", "internal error")
