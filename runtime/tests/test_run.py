"""The process entry point: JSON logs, tracing, SIGTERM drain, exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

SCRIPT = Path(__file__).with_name("_run_echo.py")


def _wait_for_serving(proc: subprocess.Popen[str]) -> tuple[int, list[dict]]:
    seen: list[dict] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        record = json.loads(line)
        seen.append(record)
        if record["message"] == "serving":
            return record["port"], seen
    raise AssertionError(f"never served: {seen}")


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_run_serves_traces_and_drains_on_sigterm(event_loop: str) -> None:
    env = {
        **os.environ,
        "RAPPORT_EVENT_LOOP": event_loop,
        "RAPPORT_SERVICE_NAME": "echo",
        "RAPPORT_TRACING_EXPORTER": "console",
        "RAPPORT_GRACE_SECONDS": "2",
        "RAPPORT_DRAIN_SECONDS": "3",
    }
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        port, seen = _wait_for_serving(proc)
        [http_port] = [r["port"] for r in seen if r["message"] == "http serving"]
        http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=5)
        assert http.get("/readyz").status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert channel.unary_unary("/test.Echo/Echo")(b"hi", timeout=5) == b"hi"
            proc.send_signal(signal.SIGTERM)
            # Draining: probes see NOT_SERVING while calls are still answered.
            deadline = time.monotonic() + 2.0
            while reply.status != health_pb2.HealthCheckResponse.NOT_SERVING:
                assert time.monotonic() < deadline, "still SERVING after SIGTERM"
                time.sleep(0.02)
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert channel.unary_unary("/test.Echo/Echo")(b"late", timeout=5) == b"late"
            # HTTP drains alongside: not ready, still alive and answering.
            assert http.get("/readyz").status_code == 503
            assert http.get("/healthz").status_code == 200
            assert http.get("/v1/items/late?q=secret").status_code == 200
            http.close()
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines()]
    messages = [r["message"] for r in records]
    assert "draining" in messages and "stopped" in messages and "http stopped" in messages
    [http_line] = [r for r in records if r.get("route") == "/v1/items/{item}"]
    assert (http_line["status"], http_line["service"]) == (200, "echo")
    assert "secret" not in stderr
    access, late = [r for r in records if r.get("method") == "/test.Echo/Echo"]
    assert access["code"] == "OK" and access["service"] == "echo"
    assert late["code"] == "OK"
    assert len(access["trace_id"]) == 32  # the server span was active
    # Console exporter: the server span, with the service resource; no payload.
    assert '"name": "/test.Echo/Echo"' in stdout
    assert "rapport-echo" in stdout
