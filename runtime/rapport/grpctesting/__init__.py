"""Helpers for service tests: an in-process server and error-detail parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from rapport.config import ServiceSettings
from rapport.grpcserver import RunningServer, ServiceParts, start

__all__ = ["serve_in_process", "status_details"]

S = TypeVar("S", bound=ServiceSettings)

_DETAILS_KEY = "grpc-status-details-bin"


@asynccontextmanager
async def serve_in_process(
    build: Callable[[S], Awaitable[ServiceParts]], settings: S
) -> AsyncIterator[RunningServer]:
    """Build and start the service on an ephemeral loopback port; stop it afterwards."""
    settings = settings.model_copy(update={"port": 0, "host": "127.0.0.1"})
    parts = await build(settings)
    running = await start(parts, settings)
    try:
        yield running
    finally:
        await running.stop(grace=0)


def status_details(
    err: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The ErrorInfo and BadRequest details of a failed call, if present."""
    raw = next(
        (value for key, value in (err.trailing_metadata() or ()) if key == _DETAILS_KEY), None
    )
    if raw is None:
        return None, None
    status = status_pb2.Status.FromString(raw)
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
