"""`make run` watches its services: one that ends on its own stops the suite, which says
which and how (with the end of its log), stops the others and exits with 1; SIGTERM (or
Ctrl-C) still drains them all; a start-up that takes too long names the services not
ready, and RAPPORT_LOCAL_START_TIMEOUT gives them longer.

The suite runs as `make run` does (`python -m rapport.localsuite`'s main) in its own
process, with each service played by fake_service.py: a health service, nothing more.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rapport.localsuite import SERVICES
from rapport.localsuite.__main__ import DEFAULT_START_TIMEOUT, start_timeout
from rapport.localsuite.suite import how_it_ended

FAKE_SERVICE = Path(__file__).with_name("fake_service.py")
# `make run` with fake services: main() as `python -m rapport.localsuite` runs it.
RUN_WITH_FAKES = f"""
import asyncio, sys
from rapport.localsuite import suite
from rapport.localsuite.__main__ import main
suite.service_command = lambda service: [sys.executable, {str(FAKE_SERVICE)!r}, service]
sys.exit(asyncio.run(main()))
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass
class LocalRun:
    process: subprocess.Popen[bytes]
    folder: Path

    def out(self) -> str:
        return (self.folder / "stdout").read_text()

    def err(self) -> str:
        return (self.folder / "stderr").read_text()

    def pid(self, service: str) -> int:
        return int((self.folder / "pids" / service).read_text())

    def log(self, service: str) -> str:
        return (self.folder / "data" / "logs" / f"{service}.log").read_text()

    def wait_for_banner(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while "Rapport is running" not in self.out():
            assert self.process.poll() is None, self.err()
            assert time.monotonic() < deadline, self.err()
            time.sleep(0.1)

    def exit_code(self, within: float = 60.0) -> int:
        return self.process.wait(timeout=within)


@pytest.fixture
def start_suite(tmp_path: Path) -> Iterator:
    started: list[LocalRun] = []

    def start(**variables: str) -> LocalRun:
        # One call: ports of separate calls may repeat (each is free once closed).
        *grpc_ports, smtp, providers, profile_http, delivery_http = free_ports(len(SERVICES) + 4)
        ports = dict(zip(SERVICES, grpc_ports, strict=True))
        env = {
            **os.environ,
            **{f"RAPPORT_LOCAL_{s.upper()}_PORT": str(p) for s, p in ports.items()},
            "RAPPORT_LOCAL_PROFILE_HTTP_PORT": str(profile_http),
            "RAPPORT_LOCAL_DELIVERY_HTTP_PORT": str(delivery_http),
            "RAPPORT_LOCAL_SMTP_PORT": str(smtp),
            "RAPPORT_LOCAL_PROVIDERS_PORT": str(providers),
            "RAPPORT_LOCAL_DATA_DIR": str(tmp_path / "data"),
            "FAKE_PID_DIR": str(tmp_path / "pids"),
            **variables,
        }
        (tmp_path / "pids").mkdir(exist_ok=True)
        with (tmp_path / "stdout").open("wb") as out, (tmp_path / "stderr").open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", RUN_WITH_FAKES], env=env, stdout=out, stderr=err
            )
        run = LocalRun(process, tmp_path)
        started.append(run)
        return run

    yield start
    for run in started:  # a failed test leaves nothing running
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
            try:
                run.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
        for pid_file in (run.folder / "pids").glob("*"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


@pytest.mark.parametrize(
    ("signum", "how"),
    [
        (signal.SIGTERM, "identity exited with code 0"),
        (signal.SIGKILL, "identity was killed by SIGKILL"),
    ],
)
def test_a_service_that_ends_stops_the_suite_saying_which_and_how(
    start_suite, signum: signal.Signals, how: str
) -> None:
    run = start_suite()
    run.wait_for_banner()
    os.kill(run.pid("identity"), signum)

    assert run.exit_code() == 1
    err = run.err()
    assert how in err
    assert "last lines of identity's log:" in err
    assert "fake identity listening on 127.0.0.1:" in err  # the end of its log
    assert "Stopping the other services" in err
    # The others were drained (SIGTERM), not left running or killed.
    for service in SERVICES:
        if service != "identity":
            assert f"fake {service} drained" in run.log(service)
            assert f"{service} exited with code 0" in run.out()


def test_sigterm_still_drains_every_service_and_exits_with_0(start_suite) -> None:
    run = start_suite()
    run.wait_for_banner()
    run.process.send_signal(signal.SIGTERM)

    assert run.exit_code() == 0
    stopped = next(line for line in run.out().splitlines() if line.startswith("Stopped: "))
    assert stopped == "Stopped: " + ", ".join(f"{s} exited with code 0" for s in SERVICES)
    for service in SERVICES:
        assert f"fake {service} drained" in run.log(service)


def test_a_slow_start_names_the_services_not_ready_and_the_variable_to_wait_longer(
    start_suite,
) -> None:
    run = start_suite(FAKE_NOT_SERVING="decisioning", RAPPORT_LOCAL_START_TIMEOUT="8")
    started = time.monotonic()

    assert run.exit_code() == 1
    assert time.monotonic() - started < 40  # 8 s, not the default
    err = run.err()
    assert "not SERVING within 8 s: decisioning (see " in err
    assert "RAPPORT_LOCAL_START_TIMEOUT=<seconds> (now 8)" in err
    for service in SERVICES:  # stopped all the same
        assert f"fake {service} drained" in run.log(service)


def test_the_banner_tells_how_long_the_start_took_and_its_limit(start_suite) -> None:
    run = start_suite(RAPPORT_LOCAL_START_TIMEOUT="45")
    run.wait_for_banner()
    [line] = [x for x in run.out().splitlines() if x.strip().startswith("start-up")]
    assert "(at most 45 s: RAPPORT_LOCAL_START_TIMEOUT)" in line
    run.process.send_signal(signal.SIGTERM)
    assert run.exit_code() == 0


def test_the_start_timeout_is_forgiving_by_default_and_refuses_nonsense() -> None:
    assert start_timeout({}) == DEFAULT_START_TIMEOUT >= 120
    assert start_timeout({"RAPPORT_LOCAL_START_TIMEOUT": " 90.5 "}) == 90.5
    for bad in ("0", "-5", "soon", "inf", "nan"):
        with pytest.raises(ValueError, match="RAPPORT_LOCAL_START_TIMEOUT"):
            start_timeout({"RAPPORT_LOCAL_START_TIMEOUT": bad})


def test_how_a_service_ended_in_words() -> None:
    assert how_it_ended(0) == "exited with code 0"
    assert how_it_ended(3) == "exited with code 3"
    assert how_it_ended(-signal.SIGTERM) == "was killed by SIGTERM"
    assert how_it_ended(-200) == "was killed by signal 200"
