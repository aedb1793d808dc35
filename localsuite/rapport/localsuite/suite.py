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
# Which peers each service calls (see DESIGN.md, "The main path"); consent also calls
# every other service for data subject requests. Not a start order: calls go both ways
# (consent <-> decisioning, consent <-> delivery), so all start at once and each waits
# for its peers (retries, backoff) rather than for a process started before it.
PEERS = {
    "identity": (),
    "profile": ("identity",),
    "consent": ("identity", "profile", "decisioning", "delivery"),
    "decisioning": ("profile", "consent", "delivery"),
    "delivery": ("profile", "consent"),
}
CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
# `make run` writes its bearer token here, under the data folder; `make demo` reads it.
TOKEN_FILE = "token"
# `make run` keeps these here, under the data folder, from one run to the next: the
# collector's write key (configured into Segment libraries) and the secret delivery signs
# unsubscribe links with (in mails already sent).
WRITE_KEY_FILE = "write_key"
UNSUBSCRIBE_SECRET_FILE = "unsubscribe_secret"


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
    # Delivery's unsubscribe signing secret (None: delivery makes one per process).
    unsubscribe_secret: str | None = None

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
        if service == "delivery" and self.unsubscribe_secret:
            env[f"{prefix}UNSUBSCRIBE_SECRET"] = self.unsubscribe_secret
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


def service_command(service: str) -> list[str]:
    """The command line of one service's process."""
    return [sys.executable, "-m", f"rapport.{service}"]


def how_it_ended(returncode: int) -> str:
    """`exited with code 3`, `was killed by SIGKILL`: a child's end in words."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


class ServiceExited(RuntimeError):
    """A service's process ended while the suite needed it."""

    def __init__(self, service: str, returncode: int, log_file: Path, log_tail: list[str]):
        self.service = service
        self.returncode = returncode
        self.log_file = log_file
        self.log_tail = log_tail
        lines = [f"{service} {how_it_ended(returncode)}; its log is {log_file}"]
        if log_tail:
            lines.append(f"last lines of {service}'s log:")
            lines += [f"  {line}" for line in log_tail]
        super().__init__("\n".join(lines))


class NotServing(TimeoutError):
    """Some services were not SERVING within the start-up time."""

    def __init__(self, services: list[str], within_seconds: float, log_files: list[Path]):
        self.services = services
        logs = ", ".join(str(f) for f in log_files)
        super().__init__(
            f"not SERVING within {within_seconds:g} s: {', '.join(services)} (see {logs})"
        )


class Suite:
    """The five services as child processes; logs go to files under data_dir/logs."""

    # How much of a service's log is shown when it ends unexpectedly.
    LOG_TAIL_LINES = 15

    def __init__(self, layout: SuiteLayout) -> None:
        self.layout = layout
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # Where this run's part of each (appended) log starts.
        self._log_starts: dict[str, int] = {}

    def start(self) -> None:
        (self.layout.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            env = {**os.environ, **self.layout.extra_env, **self.layout.environment(service)}
            log_file = self.layout.log_file(service)
            self._log_starts[service] = log_file.stat().st_size if log_file.exists() else 0
            log = log_file.open("ab")
            self.processes[service] = subprocess.Popen(
                service_command(service),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()

    def log_tail(self, service: str, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last `lines` lines this run wrote to the service's log."""
        try:
            with self.layout.log_file(service).open("rb") as log:
                log.seek(self._log_starts.get(service, 0))
                written = log.read()
        except OSError:
            return []
        return written.decode(errors="replace").splitlines()[-lines:]

    def exited(self) -> ServiceExited | None:
        """The first service (in SERVICES order) whose process has ended, if any."""
        for service, process in self.processes.items():
            if process.poll() is not None:
                return ServiceExited(
                    service,
                    process.returncode,
                    self.layout.log_file(service),
                    self.log_tail(service),
                )
        return None

    async def first_exit(self, poll_seconds: float = 0.2) -> ServiceExited:
        """Wait until any service's process ends (a crash, a kill) and say which and how."""
        # A child's end sets no event: its status is polled (as Popen.wait does).
        while (ended := self.exited()) is None:  # noqa: ASYNC110
            await asyncio.sleep(poll_seconds)
        return ended

    async def wait_until_serving(self, within_seconds: float = 30.0) -> None:
        """Wait for every service's standard health check to say SERVING.

        Raises ServiceExited as soon as a process ends, NotServing naming every service
        still not SERVING when the time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        channels = {s: grpc.aio.insecure_channel(self.layout.address(s)) for s in SERVICES}
        try:
            waiting = list(SERVICES)
            while True:
                if (ended := self.exited()) is not None:
                    raise ended
                ready = await asyncio.gather(*(_serving(channels[s]) for s in waiting))
                waiting = [s for s, ok in zip(waiting, ready, strict=True) if not ok]
                if not waiting:
                    return
                if loop.time() > deadline:
                    logs = [self.layout.log_file(s) for s in waiting]
                    raise NotServing(waiting, within_seconds, logs)
                await asyncio.sleep(0.2)
        finally:
            for channel in channels.values():
                await channel.close()

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


async def _serving(channel: grpc.aio.Channel) -> bool:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
    except grpc.aio.AioRpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING
