"""The gRPC server runtime shared by every service."""

from rapport.deadlines import current_deadline_remaining

from ._server import HealthServicer, RunningServer, ServiceParts, run, start

__all__ = [
    "HealthServicer",
    "RunningServer",
    "ServiceParts",
    "current_deadline_remaining",
    "run",
    "start",
]
