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


def test_run_serves_traces_and_drains_on_sigterm() -> None:
    env = {
        **os.environ,
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
        port, _ = _wait_for_serving(proc)
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
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines()]
    messages = [r["message"] for r in records]
    assert "draining" in messages and "stopped" in messages
    access, late = [r for r in records if r.get("method") == "/test.Echo/Echo"]
    assert access["code"] == "OK" and access["service"] == "echo"
    assert late["code"] == "OK"
    assert len(access["trace_id"]) == 32  # the server span was active
    # Console exporter: the server span, with the service resource; no payload.
    assert '"name": "/test.Echo/Echo"' in stdout
    assert "rapport-echo" in stdout
