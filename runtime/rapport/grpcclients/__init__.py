"""Outbound channels (deadline propagation, the service's bearer token) and error details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.config import ServiceSettings
from rapport.deadlines import current_deadline_remaining

__all__ = ["error_details", "open_channel", "unpack_details"]

# Never send a zero or negative timeout: an expired incoming deadline becomes
# an immediate DEADLINE_EXCEEDED instead of an invalid argument.
_MIN_TIMEOUT = 0.001


def _timeout(explicit: float | None, default: float | None) -> float | None:
    remaining = current_deadline_remaining()
    candidates = [t for t in (explicit, remaining) if t is not None]
    if not candidates:
        return default
    return max(min(candidates), _MIN_TIMEOUT)


_Adjust = Callable[[grpc.aio.ClientCallDetails, bool], grpc.aio.ClientCallDetails]


# grpc.aio's Channel files each interceptor object under the first call kind it
# implements (an if/elif chain), so one class implementing all four would only
# ever see unary-unary calls. Each adjustment gets one object per call kind.
class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, adjust: _Adjust) -> None:
        self._adjust = adjust

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._adjust(details, False), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, adjust: _Adjust) -> None:
        self._adjust = adjust

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._adjust(details, True), request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, adjust: _Adjust) -> None:
        self._adjust = adjust

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._adjust(details, False), requests)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, adjust: _Adjust) -> None:
        self._adjust = adjust

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._adjust(details, True), requests)


def _for_every_call_kind(adjust: _Adjust) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors applying ``adjust(details, response_streaming)`` to all four call kinds."""
    return [_UnaryUnary(adjust), _UnaryStream(adjust), _StreamUnary(adjust), _StreamStream(adjust)]


def _deadline_adjust(default_seconds: float) -> _Adjust:
    """timeout = min(explicit, incoming remaining), else the default for unary responses.

    Response streams (Watch*) are long-lived: no default deadline for them.
    """

    def adjust(details: grpc.aio.ClientCallDetails, streaming: bool) -> grpc.aio.ClientCallDetails:
        timeout = _timeout(details.timeout, None if streaming else default_seconds)
        return details._replace(timeout=timeout)

    return adjust


def _bearer_token_adjust(token: str) -> _Adjust:
    header = ("authorization", f"Bearer {token}")

    def adjust(details: grpc.aio.ClientCallDetails, streaming: bool) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*tuple(details.metadata or ()))
        if "authorization" not in metadata:  # an explicit caller header wins
            metadata.add(*header)
        return details._replace(metadata=metadata)

    return adjust


def error_details(
    err: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The first ErrorInfo and BadRequest of a failed call's google.rpc.Status, if any.

    Details are advisory: a missing, garbled or inconsistent status trailer gives
    ``(None, None)`` so callers still act on ``err.code()``.
    """
    try:
        status = rpc_status.from_call(err)
    except (ValueError, DecodeError):  # DecodeError is no ValueError
        return None, None
    if status is None:
        return None, None
    return unpack_details(status)


def unpack_details(
    status: status_pb2.Status,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The first ErrorInfo and BadRequest packed in ``status.details``."""
    info: error_details_pb2.ErrorInfo | None = None
    bad_request: error_details_pb2.BadRequest | None = None
    for detail in status.details:
        if info is None and detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif bad_request is None and detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    return info, bad_request


def _channel_credentials(settings: ServiceSettings) -> grpc.ChannelCredentials | None:
    if settings.outbound_tls_ca_file is None:
        return None
    cert = settings.tls_cert_file.read_bytes() if settings.tls_cert_file else None
    key = settings.tls_key_file.read_bytes() if settings.tls_key_file else None
    return grpc.ssl_channel_credentials(
        root_certificates=settings.outbound_tls_ca_file.read_bytes(),
        private_key=key,
        certificate_chain=cert,
    )


def open_channel(address: str, settings: ServiceSettings) -> grpc.aio.Channel:
    """A grpc.aio channel to another service (insecure unless outbound_tls_ca_file is set)."""
    # Tracing (when on) adds its own per-kind interceptors in front of these.
    interceptors = _for_every_call_kind(_deadline_adjust(settings.default_deadline_seconds))
    if settings.outbound_token:
        interceptors += _for_every_call_kind(_bearer_token_adjust(settings.outbound_token))
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]
    credentials = _channel_credentials(settings)
    # Module attributes looked up at call time so tracing instrumentation applies.
    if credentials is not None:
        return grpc.aio.secure_channel(
            address, credentials, options=options, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
