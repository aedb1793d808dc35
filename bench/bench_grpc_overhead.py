"""The fixed cost of a call: server CPU per unary call of a bare grpc.aio server and of
Rapport's server (rapport.grpcserver: interceptors, health, reflection), on each event
loop rapport.eventloop offers.

    .venv/bin/python bench/bench_grpc_overhead.py [--calls 4000] [--rounds 3]

The handler echoes its request, so what is measured is what every RPC pays before a
service does anything. A client process makes --calls sequential calls (grpc's blocking
API) while the server's process CPU time is read around them: CPU per call, all of the
server's threads included, best of --rounds. Each loop's servers run in a process of
their own. Ratios: Rapport's stack ÷ bare grpc.aio on the same loop, and asyncio ÷
uvloop for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).parent))
from grpc_baseline import print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.config import ServiceSettings  # noqa: E402
from rapport.grpcserver import ServiceParts, settle_heap, start  # noqa: E402

SERVICE = "bench.Echo"
LOOPS = ("asyncio", "uvloop")

CLIENT = r"""
import sys, time
import grpc
address, calls = sys.argv[1], int(sys.argv[2])
with grpc.insecure_channel(address) as channel:
    echo = channel.unary_unary("/bench.Echo/Echo")
    for _ in range(200):
        echo(b"x")
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.perf_counter()
    for _ in range(calls):
        echo(b"x")
    print((time.perf_counter() - began) / calls, flush=True)
"""


async def echo(request: bytes, context: Any) -> bytes:
    return request


def echo_handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )


async def server_cpu_per_call(address: str, calls: int) -> tuple[float, float]:
    """(server CPU µs, round trip µs) per call, the client in its own process."""
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        address,
        str(calls),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None and client.stdout is not None
    await client.stdout.readline()  # connected and warmed up
    cpu = time.process_time()
    client.stdin.write(b"go\n")
    await client.stdin.drain()
    round_trip = float(await client.stdout.readline())
    cpu = time.process_time() - cpu
    await client.wait()
    return cpu / calls * 1e6, round_trip * 1e6


async def serve_and_measure(calls: int, rounds: int) -> dict[str, list[float]]:
    settle_heap()
    bare = grpc.aio.server()
    bare.add_generic_rpc_handlers((echo_handler(),))
    port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    parts = ServiceParts(
        register=[lambda server: server.add_generic_rpc_handlers((echo_handler(),))],
        service_names=[SERVICE],
        error_domain="rapport.bench.v1",
    )
    rapport = await start(parts, ServiceSettings(port=0, host="127.0.0.1", log_level="WARNING"))
    best: dict[str, list[float]] = {}
    try:
        for _ in range(rounds):
            for label, address in (("bare", f"127.0.0.1:{port}"), ("rapport", rapport.address)):
                cpu, trip = await server_cpu_per_call(address, calls)
                if label not in best or cpu < best[label][0]:
                    best[label] = [cpu, trip]
    finally:
        await rapport.stop(grace=0, drain=0)
        await bare.stop(0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=LOOPS, help=argparse.SUPPRESS)  # one loop's child
    args = parser.parse_args()
    if args.loop:
        print(json.dumps(eventloop.run(serve_and_measure(args.calls, args.rounds), args.loop)))
        return
    results = {}
    for loop_name in LOOPS:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--loop",
                loop_name,
                "--calls",
                str(args.calls),
                "--rounds",
                str(args.rounds),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results[loop_name] = json.loads(child.stdout.strip().splitlines()[-1])
    rows = []
    for loop_name in LOOPS:
        for label in ("bare", "rapport"):
            cpu, trip = results[loop_name][label]
            server = "bare grpc.aio" if label == "bare" else "rapport.grpcserver"
            rows.append(
                (
                    f"{server} on {loop_name}",
                    f"server CPU {cpu:6.1f} µs/call, round trip {trip:6.1f} µs",
                )
            )
    for loop_name in LOOPS:
        stack = results[loop_name]["rapport"][0] / results[loop_name]["bare"][0]
        rows.append((f"Rapport's stack ÷ bare, {loop_name}", f"{stack:.2f}×"))
    for label in ("bare", "rapport"):
        ratio = results["asyncio"][label][0] / results["uvloop"][label][0]
        rows.append((f"asyncio ÷ uvloop, {label}", f"{ratio:.2f}×"))
    print_table("The fixed cost of a unary call (server CPU, best round)", rows)


if __name__ == "__main__":
    main()
