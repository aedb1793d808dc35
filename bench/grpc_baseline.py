"""Measuring RPCs against the same server's empty RPC, so figures travel between machines.

The baseline is the standard health Check on the server under test: the cheapest
unary call that still crosses the whole gRPC stack (interceptors included).
"""

from __future__ import annotations

import statistics
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
