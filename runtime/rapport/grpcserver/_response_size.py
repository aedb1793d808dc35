"""A response larger than the send limit ends the call with a clear status."""

from __future__ import annotations

from typing import Any

import grpc
from rapport.errors import (
    ResourceExhausted,
)

from ._wrapping import (
    Continuation,
    WrappedPerMethod,
    wrap_handler,
)


class EncodedResponse:
    """A response already serialized: by ResponseSizeInterceptor, or by a servicer
    that keeps its answers serialized (e.g. in a cache). Still measured here."""

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
        self._wrapped = WrappedPerMethod(self._measured)

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._wrapped.get(await continuation(details), details.method)

    def _measured(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        serialize = handler.response_serializer

        def encode(response: Any) -> EncodedResponse:
            if type(response) is EncodedResponse:
                raw = response.raw
            else:
                raw = response if serialize is None else serialize(response)
            if len(raw) > self._max:
                raise ResourceExhausted(
                    "RESPONSE_TOO_LARGE",
                    f"the response would be {len(raw)} bytes, over the limit of {self._max}; "
                    "ask for less (e.g. a smaller page_size)",
                    {"size": str(len(raw)), "limit": str(self._max)},
                )
            return response if type(response) is EncodedResponse else EncodedResponse(raw)

        def pass_through(response: Any) -> bytes:
            if type(response) is EncodedResponse:
                return response.raw
            return encode(response).raw

        return wrap_handler(handler, method, on_response=encode, response_serializer=pass_through)
