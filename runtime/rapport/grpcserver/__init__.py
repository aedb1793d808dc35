"""The gRPC server runtime shared by every service."""

from rapport.deadlines import current_deadline_remaining

from ._heap import settle_heap
from ._response_size import EncodedResponse
from ._server import HealthServicer, RunningServer, ServiceParts, run, start
from ._workspaces import named_workspaces

__all__ = [
    "EncodedResponse",
    "HealthServicer",
    "RunningServer",
    "ServiceParts",
    "current_deadline_remaining",
    "named_workspaces",
    "run",
    "settle_heap",
    "start",
]
