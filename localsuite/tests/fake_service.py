"""A stand-in for one service's process under `make run`: the standard health service on
the port `make run` gives it, SERVING unless FAKE_NOT_SERVING names it, its pid in
<FAKE_PID_DIR>/<service>, and a clean exit on SIGTERM as the real services drain.

    python fake_service.py <service>
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main(service: str) -> int:
    prefix = f"RAPPORT_{service.upper()}_"
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    (Path(os.environ["FAKE_PID_DIR"]) / service).write_text(str(os.getpid()))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    checks = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    address = f"{os.environ[prefix + 'HOST']}:{os.environ[prefix + 'PORT']}"
    server.add_insecure_port(address)
    server.start()
    not_serving = service in os.environ.get("FAKE_NOT_SERVING", "").split(",")
    status = health_pb2.HealthCheckResponse
    checks.set("", status.NOT_SERVING if not_serving else status.SERVING)
    print(f"fake {service} listening on {address}", flush=True)
    stopped.wait()
    server.stop(grace=1).wait()
    print(f"fake {service} drained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
