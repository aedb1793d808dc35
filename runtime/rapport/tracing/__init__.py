"""OpenTelemetry tracing through the maintained gRPC instrumentation.

Off by default: with exporter "none" nothing is imported from the SDK and no
interceptor is installed, so there is no per-call overhead. The gRPC
instrumentation records method, status code and peer, never payloads.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["configure", "shutdown"]

_log = logging.getLogger(__name__)
_provider: Any = None  # the SDK TracerProvider we installed, if any


def configure(service_name: str, exporter: str = "none", otlp_endpoint: str | None = None) -> None:
    """Install a TracerProvider and instrument grpc.aio servers and clients.

    Call before servers and channels are created (the instrumentation patches
    ``grpc.aio.server`` / ``grpc.aio.*_channel``). Calling again is a no-op.
    """
    global _provider
    if exporter == "none" or _provider is not None:
        return
    # Imported lazily: the SDK and exporters cost start-up time when unused.
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
        filters,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=otlp_endpoint)
    else:
        raise ValueError(f"unknown tracing exporter {exporter!r}")

    provider = TracerProvider(resource=Resource.create({"service.name": f"rapport-{service_name}"}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _provider = provider

    # Probes and reflection are noise in traces.
    skip = filters.negate(
        filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection."))
    )
    GrpcAioInstrumentorServer(filter_=skip).instrument(tracer_provider=provider)
    GrpcAioInstrumentorClient(filter_=skip).instrument(tracer_provider=provider)
    _log.info("tracing enabled", extra={"address": otlp_endpoint or exporter})


def shutdown() -> None:
    """Flush pending spans; safe to call when tracing was never enabled."""
    if _provider is not None:
        try:
            _provider.shutdown()
        except Exception:  # never fail process exit because a collector is gone
            _log.warning("tracing shutdown failed", exc_info=True)
