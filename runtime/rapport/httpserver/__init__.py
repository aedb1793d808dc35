"""An HTTP endpoint next to a service's gRPC server, in the same process and loop.

A service whose ``ServiceParts.http_app`` holds an ASGI app (a Starlette app:
routes only, ``debug`` off) gets it served by uvicorn once gRPC is SERVING, on
``http_host``/``http_port``, with the runtime's layers in front of it:
``/healthz`` (liveness) and ``/readyz`` (ready while the gRPC health is SERVING,
503 from the start of the drain), the ``http_max_body_bytes`` body limit (413),
an access log line per request (method, route template, status, duration_ms)
and a guard that answers any escaped exception with a generic 500, logged.
It drains with the gRPC server: still serving during ``drain_seconds``, then no
new connections, then ``grace_seconds`` for requests in flight.
"""

from ._app import LIVENESS_PATH, READINESS_PATH, ServiceApp
from ._requests import BasicCredentials, basic_credentials, read_body
from ._server import RunningHttpServer, start

__all__ = [
    "LIVENESS_PATH",
    "READINESS_PATH",
    "BasicCredentials",
    "RunningHttpServer",
    "ServiceApp",
    "basic_credentials",
    "read_body",
    "start",
]
