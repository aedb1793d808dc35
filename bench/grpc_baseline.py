"""Measuring RPCs against the same server's empty RPC, so figures travel between machines.

The baseline is the standard health Check on the server under test: the cheapest
unary call that still crosses the whole gRPC stack (interceptors included).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass
class Timing:
    """Latencies (seconds) of sequential calls."""

    samples: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    @property
    def per_second(self) -> float:
        return len(self.samples) / sum(self.samples)


async def time_calls(call: Callable[[int], Awaitable[object]], count: int) -> Timing:
    """Run call(i) for i in range(count) one after another; warm up first."""
    for i in range(min(20, count)):
        await call(-1 - i)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return Timing(samples)


async def empty_rpc_timing(channel: grpc.aio.Channel, count: int = 2000) -> Timing:
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="")
    return await time_calls(lambda _: stub.Check(request), count)


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


class CpuSampler:
    """This process's CPU time (all threads), read every 50 ms by a thread of its own:
    a server's CPU per call, in a bench whose process holds only the servers."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append((time.perf_counter(), time.process_time()))

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def per_call(self, window: tuple[float, float], rate: float, call: str) -> str:
        """The CPU per call at ``rate`` calls/s between the first and last samples inside
        ``window`` (a perf_counter range: the clock is the same in the client's process)."""
        inside = [s for s in self.samples if window[0] <= s[0] <= window[1]]
        if len(inside) < 2 or rate <= 0:
            return "not measured (too short)"
        cpu, wall = inside[-1][1] - inside[0][1], inside[-1][0] - inside[0][0]
        return f"{cpu / (wall * rate) * 1e6:,.0f} µs per {call} ({cpu / wall:.0%} of a core)"
