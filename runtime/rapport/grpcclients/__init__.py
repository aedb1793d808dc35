"""Outbound channels: deadline propagation and the service's bearer token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from rapport.config import ServiceSettings
from rapport.deadlines import current_deadline_remaining

__all__ = ["open_channel"]

# Never send a zero or negative timeout: an expired incoming deadline becomes
# an immediate DEADLINE_EXCEEDED instead of an invalid argument.
_MIN_TIMEOUT = 0.001


def _timeout(explicit: float | None, default: float | None) -> float | None:
    remaining = current_deadline_remaining()
    candidates = [t for t in (explicit, remaining) if t is not None]
    if not candidates:
        return default
    return max(min(candidates), _MIN_TIMEOUT)


class _OutboundInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Adjusts call details; subclasses implement ``_details(details, streaming)``."""

    def _details(
        self, details: grpc.aio.ClientCallDetails, streaming: bool
    ) -> grpc.aio.ClientCallDetails:
        raise NotImplementedError

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(details, False), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(details, True), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._details(details, False), requests)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, requests: Any
    ) -> Any:
        return await continuation(self._details(details, True), requests)


class DeadlineInterceptor(_OutboundInterceptor):
    """timeout = min(explicit, incoming remaining), else the default for unary responses.

    Response streams (Watch*) are long-lived: no default deadline for them.
    """

    def __init__(self, default_seconds: float) -> None:
        self._default = default_seconds

    def _details(
        self, details: grpc.aio.ClientCallDetails, streaming: bool
    ) -> grpc.aio.ClientCallDetails:
        timeout = _timeout(details.timeout, None if streaming else self._default)
        return details._replace(timeout=timeout)


class BearerTokenInterceptor(_OutboundInterceptor):
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(
        self, details: grpc.aio.ClientCallDetails, streaming: bool
    ) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*tuple(details.metadata or ()))
        if "authorization" not in metadata:  # an explicit caller header wins
            metadata.add(*self._header)
        return details._replace(metadata=metadata)


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
    interceptors: list[grpc.aio.ClientInterceptor] = [
        DeadlineInterceptor(settings.default_deadline_seconds)
    ]
    if settings.outbound_token:
        interceptors.append(BearerTokenInterceptor(settings.outbound_token))
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
