"""Start, watch and stop the five services as separate processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICES = ("identity", "profile", "consent", "decisioning", "delivery")
DEFAULT_PORTS = {
    "identity": 50051,
    "profile": 50052,
    "consent": 50053,
    "decisioning": 50054,
    "delivery": 50055,
}
# The services with an HTTP endpoint next to gRPC (rapport.httpserver), and its port.
DEFAULT_HTTP_PORTS = {
    "profile": 8052,
    "delivery": 8055,
}
# Which peers each service calls (see DESIGN.md, "The main path").
PEERS = {
    "identity": (),
    "profile": ("identity",),
    "consent": ("identity",),
    "decisioning": ("profile", "consent", "delivery"),
    "delivery": ("profile", "consent"),
}
CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
# `make run` writes its bearer token here, under the data folder; `make demo` reads it.
TOKEN_FILE = "token"


@dataclass
class SuiteLayout:
    """Where the suite's services listen and keep their files."""

    data_dir: Path
    smtp_port: int
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    http_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_HTTP_PORTS))
    catalogue_file: Path = CATALOGUE_FILE
    extra_env: dict[str, str] = field(default_factory=dict)
    # With a token, every service requires it (all scopes, all workspaces) and the
    # services that call others present it: the same default-deny path as production.
    auth_token: str | None = None
    # Profile's Segment-compatible collector: this write key sends to workspace "default".
    write_key: str | None = None

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def http_address(self, service: str) -> str:
        return f"127.0.0.1:{self.http_ports[service]}"

    def log_file(self, service: str) -> Path:
        return self.data_dir / "logs" / f"{service}.log"

    def environment(self, service: str) -> dict[str, str]:
        """The RAPPORT_<SERVICE>_* variables that configure one service."""
        prefix = f"RAPPORT_{service.upper()}_"
        env = {
            f"{prefix}HOST": "127.0.0.1",
            f"{prefix}PORT": str(self.ports[service]),
            f"{prefix}DATA_DIR": str(self.data_dir / service),
            # No load balancer to notice NOT_SERVING locally: stop at once, with grace.
            f"{prefix}DRAIN_SECONDS": "0",
        }
        # A service left out of http_ports serves HTTP (if it has any) on a free port,
        # never on its fixed default, which another suite (`make run`) may hold.
        env[f"{prefix}HTTP_HOST"] = "127.0.0.1"
        env[f"{prefix}HTTP_PORT"] = str(self.http_ports.get(service, 0))
        if service == "delivery" and service in self.http_ports:
            # Unsubscribe links and provider callbacks point at delivery's HTTP endpoint.
            env[f"{prefix}PUBLIC_BASE_URL"] = f"http://{self.http_address(service)}"
        if service == "profile" and self.write_key:
            env[f"{prefix}WRITE_KEYS"] = json.dumps({self.write_key: "default"})
        if self.auth_token:
            grant = {"scopes": ["*"], "workspaces": ["*"]}
            env[f"{prefix}AUTH_TOKENS"] = json.dumps({self.auth_token: grant})
            if PEERS[service]:
                env[f"{prefix}OUTBOUND_TOKEN"] = self.auth_token
        for peer in PEERS[service]:
            env[f"{prefix}{peer.upper()}_ADDRESS"] = self.address(peer)
        if service == "decisioning":
            env[f"{prefix}CATALOGUE_FILE"] = str(self.catalogue_file)
        if service == "delivery":
            env[f"{prefix}SMTP_HOST"] = "127.0.0.1"
            env[f"{prefix}SMTP_PORT"] = str(self.smtp_port)
        return env


class Suite:
    """The five services as child processes; logs go to files under data_dir/logs."""

    def __init__(self, layout: SuiteLayout) -> None:
        self.layout = layout
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        (self.layout.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            env = {**os.environ, **self.layout.extra_env, **self.layout.environment(service)}
            log = self.layout.log_file(service).open("ab")
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", f"rapport.{service}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()

    async def wait_until_serving(self, within_seconds: float = 30.0) -> None:
        """Wait for every service's standard health check to say SERVING."""
        deadline = asyncio.get_running_loop().time() + within_seconds
        await asyncio.gather(*(self._wait_one(s, deadline) for s in SERVICES))

    async def _wait_one(self, service: str, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        async with grpc.aio.insecure_channel(self.layout.address(service)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                process = self.processes.get(service)
                if process is not None and process.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with code {process.returncode}; "
                        f"see {self.layout.log_file(service)}"
                    )
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                if loop.time() > deadline:
                    raise TimeoutError(
                        f"{service} not SERVING in time; see {self.layout.log_file(service)}"
                    )
                await asyncio.sleep(0.2)

    def stop(self, grace: float = 10.0) -> dict[str, int | None]:
        """SIGTERM every service (they drain), then kill what is still running."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for service, process in self.processes.items():
            try:
                codes[service] = process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[service] = process.wait()
        self.processes.clear()
        return codes
