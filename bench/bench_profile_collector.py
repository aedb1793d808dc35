"""Profile: the Segment-compatible HTTP collector, and how fast identity's changes reach
GetProfile.

    .venv/bin/python bench/bench_profile_collector.py [--events 20000]
        [--batch-size 100] [--concurrency 4] [--gzip] [--merges 50]

Identity and profile run in this process (SQLite each), with the client. Collector:
--events track events (a user id, an anonymous id and 3 properties each, as Segment's
libraries send them) posted to /v1/batch in bodies of --batch-size, --concurrency in
flight; the figure is events/s, next to the same profile server's empty gRPC RPC
(health Check) and its empty HTTP request (GET /healthz) measured in the same run.
Identity following: --merges times, two customers known to profile are merged by a
Resolve call made to identity directly; the time until GetProfile of the merged-away
customer shows the survivor (p50, p99, max).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from grpc_baseline import Timing, empty_rpc_timing, print_table, time_calls  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.grpctesting import serve_in_process  # noqa: E402
from rapport.identity.bootstrap import build as build_identity  # noqa: E402
from rapport.identity.settings import IdentitySettings  # noqa: E402
from rapport.identity.v1 import identity_service_pb2 as ipb  # noqa: E402
from rapport.identity.v1 import identity_service_pb2_grpc as ipb_grpc  # noqa: E402
from rapport.profile.bootstrap import build as build_profile  # noqa: E402
from rapport.profile.settings import ProfileSettings  # noqa: E402
from rapport.profile.v1 import profile_service_pb2 as pb  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.type.v1 import identifier_pb2  # noqa: E402

PARENT = "workspaces/default"
WRITE_KEY = "bench-write-key"


def bodies(events: int, batch_size: int, customers: int = 1000) -> list[list[dict]]:
    run = uuid.uuid4().hex[:8]
    batches = []
    for start in range(0, events, batch_size):
        batch = []
        for n in range(start, min(events, start + batch_size)):
            c = n % customers
            batch.append(
                {
                    "type": "track",
                    "messageId": f"{run}-{n}",
                    "userId": f"u-{run}-{c}",
                    "anonymousId": f"a-{run}-{c}",
                    "event": "Product Viewed",
                    "properties": {"sku": f"SKU-{n % 500}", "price": 9.99, "quantity": 1},
                    "timestamp": "2026-11-30T10:00:00.000Z",
                    "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
                }
            )
        batches.append(batch)
    return batches


async def collector(http_address: str, args: argparse.Namespace) -> float:
    batches = bodies(args.events, args.batch_size)
    encoded = [json.dumps({"batch": b, "sentAt": "2026-11-30T10:00:01Z"}).encode() for b in batches]
    headers = {"content-type": "application/json"}
    if args.gzip:
        encoded = [gzip.compress(body) for body in encoded]
        headers["content-encoding"] = "gzip"
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in encoded:
        queue.put_nowait(body)
    async with httpx.AsyncClient(
        base_url=f"http://{http_address}", auth=(WRITE_KEY, ""), timeout=60
    ) as http:
        # Warm up (and the customers' first identity resolution) outside the timing.
        warm = bodies(args.batch_size, args.batch_size)[0]
        (await http.post("/v1/batch", json={"batch": warm}, headers=headers)).raise_for_status()

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                (await http.post("/v1/batch", content=body, headers=headers)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        return args.events / (time.perf_counter() - started)


async def empty_http(http_address: str, count: int = 2000) -> Timing:
    async with httpx.AsyncClient(base_url=f"http://{http_address}") as http:
        return await time_calls(lambda _: http.get("/healthz"), count)


async def follow_latency(
    identity: ipb_grpc.IdentityServiceStub, stub: pb_grpc.ProfileServiceStub, merges: int
) -> list[float]:
    run = uuid.uuid4().hex[:8]
    took = []
    for n in range(merges):
        user, anon = f"fu-{run}-{n}", f"fa-{run}-{n}"
        answer = await stub.IngestEvents(
            pb.IngestEventsRequest(
                parent=PARENT,
                events=[
                    pb.Event(
                        type=pb.EVENT_TYPE_TRACK,
                        message_id=f"{user}-1",
                        user_id=user,
                        event="Viewed",
                    ),
                    pb.Event(
                        type=pb.EVENT_TYPE_TRACK,
                        message_id=f"{anon}-1",
                        anonymous_id=anon,
                        event="Viewed",
                    ),
                ],
            )
        )
        customers = {r.customer for r in answer.results}
        started = time.perf_counter()
        merged = await identity.Resolve(
            ipb.ResolveRequest(
                parent=PARENT,
                identifiers=[
                    identifier_pb2.Identifier(type="user_id", value=user),
                    identifier_pb2.Identifier(type="anonymous_id", value=anon),
                ],
            )
        )
        [gone] = merged.merged_customers
        assert customers == {gone, merged.customer.name}
        while True:
            view = await stub.GetProfile(pb.GetProfileRequest(name=f"{gone}/profile"))
            if view.customer == merged.customer.name and view.event_count == 2:
                break
            await asyncio.sleep(0.002)
        took.append(time.perf_counter() - started)
    return took


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        identity_settings = IdentitySettings(data_dir=Path(tmp) / "identity", log_level="WARNING")
        async with serve_in_process(build_identity, identity_settings) as identity_server:
            profile_settings = ProfileSettings(
                data_dir=Path(tmp) / "profile",
                identity_address=identity_server.address,
                write_keys={WRITE_KEY: "default"},
                log_level="WARNING",
            )
            async with serve_in_process(build_profile, profile_settings) as profile_server:
                async with (
                    grpc.aio.insecure_channel(profile_server.address) as channel,
                    grpc.aio.insecure_channel(identity_server.address) as identity_channel,
                ):
                    empty = await empty_rpc_timing(channel)
                    http_empty = await empty_http(profile_server.http_address)
                    rate = await collector(profile_server.http_address, args)
                    latencies = sorted(
                        await follow_latency(
                            ipb_grpc.IdentityServiceStub(identity_channel),
                            pb_grpc.ProfileServiceStub(channel),
                            args.merges,
                        )
                    )
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print_table(
        f"profile HTTP collector ({args.events} events, /v1/batch of {args.batch_size}, "
        f"{args.concurrency} in flight, gzip {'on' if args.gzip else 'off'}, SQLite)",
        [
            ("collector events/s", f"{rate:,.0f}"),
            ("empty gRPC RPC calls/s", f"{empty.per_second:,.0f}"),
            ("empty HTTP request calls/s", f"{http_empty.per_second:,.0f}"),
            ("events/s / empty gRPC calls/s", f"{rate / empty.per_second:.2f}"),
            ("events/s / empty HTTP calls/s", f"{rate / http_empty.per_second:.2f}"),
        ],
    )
    print_table(
        f"identity merge -> visible in GetProfile ({args.merges} merges)",
        [
            ("p50 ms", f"{p50:.1f}"),
            ("p99 ms", f"{p99:.1f}"),
            ("max ms", f"{latencies[-1] * 1000:.1f}"),
            ("p50 / empty gRPC RPC p50", f"{p50 / empty.p50_ms:.1f}"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--merges", type=int, default=50)
    eventloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
