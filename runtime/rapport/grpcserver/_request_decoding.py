"""Request bytes that do not decode are the client's mistake: INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from rapport.errors import (
    InvalidArgument,
)

from ._wrapping import (
    Continuation,
    WrappedPerMethod,
    wrap_handler,
)


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

    def __init__(self) -> None:
        self._wrapped = WrappedPerMethod(_tolerant)

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._wrapped.get(await continuation(details), details.method)


def _tolerant(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    if handler.request_deserializer is None:
        return handler  # raw bytes: nothing to decode
    decode = handler.request_deserializer
    type_name = _message_type_name(decode)

    def tolerant(raw: bytes) -> Any:
        try:
            return decode(raw)
        except (DecodeError, UnicodeDecodeError):  # the latter: pure-Python protobuf
            return _Undecodable(type_name)

    return wrap_handler(
        handler, method, on_request=_refuse_undecodable, request_deserializer=tolerant
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
