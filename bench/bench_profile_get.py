"""Profile: GetProfile latency (p50/p99) at an offered load of 1,000 requests/s.

    .venv/bin/python bench/bench_profile_get.py [--backend sqlite|postgres] [--redis URL]
        [--rate 1000] [--seconds 10] [--customers 2000] [--client paced|aio]
        [--identity-process]

Open loop: a request is started every 1/rate seconds whether or not the earlier ones
answered, and each latency counts from the moment it was due, so a stall is not hidden
by the client slowing down (no coordinated omission). The default client paces its
calls from a thread that sleeps until each is due (time.sleep is microseconds late)
and starts it with grpc's blocking API as a future; --client aio starts them from
asyncio timers, which round every wait up to a whole millisecond, so each call leaves
up to 1 ms late and that lateness counts in its latency. The load comes from a second
process (its own event loop), which also measures the empty RPC; the servers share
this one. Customers are made first by IngestEvents (each: an identify with four
traits, a group, five tracks), through a real identity service: in this process, or in
its own with --identity-process, as deployed (then this process's heap and loop are
profile's alone). The profiles asked for are drawn at random, after one warm-up pass
over all of them (the cache: in-process on SQLite, Redis with --redis, none on
PostgreSQL without it). Both processes settle their heaps as every Rapport server does
when it starts (rapport.grpcserver.settle_heap). Printed next to the same server's
empty RPC, with this process's CPU per GetProfile during the load (steadier than
latency on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).parent))
from bench_profile_ingest import (  # noqa: E402
    Traffic,
    databases,
    identity_service,
    in_batches,
    send_all,
)
from grpc_baseline import CpuSampler, empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.grpcserver import settle_heap  # noqa: E402
from rapport.grpctesting import serve_in_process  # noqa: E402
from rapport.profile.bootstrap import build as build_profile  # noqa: E402
from rapport.profile.settings import ProfileSettings  # noqa: E402
from rapport.profile.v1 import profile_service_pb2 as pb  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc as pb_grpc  # noqa: E402


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def make_customers(stub: pb_grpc.ProfileServiceStub, customers: int) -> list[str]:
    """The profile names of ``customers`` customers with traits, a group and events."""
    traffic = Traffic(customers)
    names: list[str] = []
    for batch in in_batches([traffic.identify(n) for n in range(customers)], 500):
        reply = await stub.IngestEvents(
            pb.IngestEventsRequest(parent="workspaces/default", events=batch)
        )
        names += [result.customer + "/profile" for result in reply.results]
    more: list[pb.Event] = []
    for n in range(customers):
        group = traffic.next()
        group.type, group.group_id = pb.EVENT_TYPE_GROUP, f"g-{n % 50}"
        more.append(group)
    more += [traffic.next() for _ in range(customers * 5)]
    await send_all(stub, in_batches(more, 500), 4)
    return names


async def offered_load(
    stub: pb_grpc.ProfileServiceStub, names: list[str], rate: float, seconds: float
) -> tuple[list[float], int]:
    """(latencies in seconds from when each request was due, failures)."""
    pick = random.Random(11)
    latencies: list[float] = []
    failures = 0
    pending: set[asyncio.Task[None]] = set()

    async def one(due: float, name: str) -> None:
        nonlocal failures
        try:
            await stub.GetProfile(pb.GetProfileRequest(name=name), timeout=5)
        except grpc.aio.AioRpcError:
            failures += 1
            return
        latencies.append(time.perf_counter() - due)

    interval = 1 / rate
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        due = start + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due, pick.choice(names)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return latencies, failures


async def run(args: argparse.Namespace) -> None:
    async with databases(args.backend) as (identity_db, profile_db):
        async with identity_service(identity_db, args.identity_process) as identity_address:
            profile_settings = ProfileSettings(
                log_level="WARNING",
                identity_address=identity_address,
                redis_url=args.redis,
                **profile_db,
            )
            async with serve_in_process(build_profile, profile_settings) as profile:
                async with grpc.aio.insecure_channel(profile.address) as channel:
                    await measure(channel, profile.address, args)


def paced_load(
    address: str, names: list[str], rate: float, seconds: float
) -> tuple[list[float], int]:
    """The offered load from grpc's blocking API: a thread paces the calls with
    time.sleep (microseconds late, where asyncio's timers round up to the next whole
    millisecond) and starts each as a future; gRPC's threads time the answers.
    Same open loop and same measure, from when each call was due."""
    pick = random.Random(11)
    latencies: list[float] = []
    failures = 0
    total = int(rate * seconds)
    answered = threading.Semaphore(0)

    def timed(due: float) -> Callable[[grpc.Future], None]:
        def record(call: grpc.Future) -> None:
            nonlocal failures
            if call.exception() is None:
                latencies.append(time.perf_counter() - due)
            else:
                failures += 1
            answered.release()

        return record

    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        stub.GetProfile(pb.GetProfileRequest(name=names[0]))  # connected
        interval = 1 / rate
        start = time.perf_counter()
        for n in range(total):
            due = start + n * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            call = stub.GetProfile.future(pb.GetProfileRequest(name=pick.choice(names)), timeout=5)
            call.add_done_callback(timed(due))
        for _ in range(total):
            answered.acquire()
    return latencies, failures


async def load_from_client(
    address: str, names: list[str], rate: float, seconds: float, client: str
) -> tuple[float, float, list[float], int]:
    """In the client process: warm-up pass, empty RPC, then the offered load."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        for name in names:  # warm-up pass: every profile read once
            await stub.GetProfile(pb.GetProfileRequest(name=name))
        # The caller is a long-running service process too: its heap is settled as
        # the runtime settles every server's (the servers here did it when started).
        settle_heap()
        empty = await empty_rpc_timing(channel)
        # perf_counter is the system's monotonic clock: the server reads the same one.
        began = time.perf_counter()
        if client == "aio":
            latencies, failures = await offered_load(stub, names, rate, seconds)
    if client == "paced":
        latencies, failures = await asyncio.to_thread(paced_load, address, names, rate, seconds)
    ended = time.perf_counter()
    return empty.p50_ms, empty.per_second, latencies, failures, (began, ended)


def client_main(address: str, names: list[str], rate: float, seconds: float, client: str) -> tuple:
    return eventloop.run(load_from_client(address, names, rate, seconds, client))


async def measure(channel: grpc.aio.Channel, address: str, args: argparse.Namespace) -> None:
    stub = pb_grpc.ProfileServiceStub(channel)
    names = await make_customers(stub, args.customers)
    loop = asyncio.get_running_loop()
    with (
        ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
        CpuSampler() as sampler,
    ):
        empty_p50, empty_rate, latencies, failures, (began, ended) = await loop.run_in_executor(
            pool, client_main, address, names, args.rate, args.seconds, args.client
        )
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    identity_where = "in its own process" if args.identity_process else "in this process"
    cache = "Redis" if args.redis else ("in-process" if args.backend == "sqlite" else "none")
    print_table(
        f"profile GetProfile on {args.backend}, cache {cache} ({os.cpu_count()} cores, "
        f"{args.client} client in a second process)",
        [
            ("empty RPC (health Check)", f"p50 {empty_p50:.3f} ms, {empty_rate:,.0f}/s"),
            (
                f"GetProfile at {args.rate:,.0f}/s offered",
                f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean "
                f"{statistics.fmean(latencies) * 1000:.3f} ms ({len(latencies):,} answered, "
                f"{failures} failed, {args.customers:,} profiles)",
            ),
            (
                "server process CPU during the load",
                f"{sampler.per_call((began, ended), args.rate, 'GetProfile offered')}; "
                f"identity {identity_where}",
            ),
            ("p50 ÷ empty RPC p50", f"{p50 / empty_p50:.1f}"),
            ("target (issue 7)", "p99 ≤ 2 ms at 1,000 requests/s"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", help="Redis URL for the profile cache (e.g. redis://...)")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--identity-process",
        action="store_true",
        help="identity in a process of its own, as deployed (default: in this process)",
    )
    parser.add_argument(
        "--client",
        choices=["paced", "aio"],
        default="paced",
        help="paced: blocking-API futures started on time by a sleeping thread; "
        "aio: grpc.aio calls started from asyncio timers (whole-millisecond granularity)",
    )
    args = parser.parse_args()
    eventloop.run(run(args))


if __name__ == "__main__":
    main()
