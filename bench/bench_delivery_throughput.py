"""Delivery: messages/s end to end, into an aiosmtpd sink and into a webhook receiver.

    .venv/bin/python bench/bench_delivery_throughput.py [--messages 2000] [--customers 500]
        [--concurrency 64] [--backend sqlite|postgres] [--redis URL] [--profile FILE]
        [--batch-size N] [--replicas N] [--split]

End to end: SendMessage (idempotency key recorded) -> the durable queue (claimed with a
lease) -> the profile (reads at the same time in one BatchGetProfiles, a lone one in a
GetProfile) -> quiet hours (configured for the workspace, in the customer's zone; the
window is elsewhere in the day so messages are not held) -> frequency caps
(a rule counted per customer, high enough not to cap) -> consent (CheckConsent on the
real consent service, right before the provider call) -> the provider: SMTP into an
aiosmtpd sink, or a signed Standard Webhooks POST into a local HTTP receiver, both
started here on 127.0.0.1 in a process of their own (the provider's side: their CPU is
not delivery's; they count every message they get in shared memory). The clock runs from
the first SendMessage to the moment the sink or receiver got the last message; the
figure is messages/s over that span.

The delivery and consent services run in this process (one event loop, as one replica of
each would); the profile service is a gRPC stand-in answering every customer's traits
(GetProfile, BatchGetProfiles) and accepting the status events the closed loop sends
(IngestEvents; its own cost is measured by bench_profile_get.py /
bench_profile_ingest.py); the stand-ins are in delivery_stand_ins.py. The client sending
the messages runs in a process of its own, as delivery's callers do (building requests
and gRPC's client side are theirs, not delivery's; its CPU is printed apart). Printed
next to the same delivery server's empty RPC (health Check), with the CPU time this
process spent per message (delivery, consent and the profile stand-in; not the client
nor the sinks): a figure that moves less with the machine's load than the rates.
--profile FILE writes a cProfile of the run. --batch-size N (above 1) then sends each
channel's messages again through BatchSendMessages, N per call (as many messages in
flight as --concurrency, at least two calls), and prints those figures after
SendMessage's.

--replicas N (2 or more; PostgreSQL and Redis, which replicas share) runs delivery as a
platform would: N replicas, each a process of its own built by the service's bootstrap
with the same settings on its own port, consent and the profile stand-in together in
another, and the client spreading its calls over the replicas in turn (as a Kubernetes
Service would). It then prints the CPU per message of all those server processes, how
many messages each replica sent, and the duplicates the sinks got (a message received
twice, by its X-Rapport-Message or webhook-id: must be 0), with the CPU of PostgreSQL
and Redis and of the whole machine beside (not in the servers' sum). --split runs one
replica so too (the same processes as N replicas: the fair comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import multiprocessing
import pstats
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).parent))
from bench_profile_ingest import databases  # noqa: E402
from delivery_phases import Servers, grant_all, run_phases, start_client, table  # noqa: E402
from delivery_stand_ins import (  # noqa: E402
    Counter,
    Profiles,
    cpu_seconds,
    machine_cpu_seconds,
    peers_main,
    replica_main,
    sinks_main,
    store_cpu_seconds,
)
from grpc_baseline import empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.consent.bootstrap import build as build_consent  # noqa: E402
from rapport.consent.settings import ConsentSettings  # noqa: E402
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc  # noqa: E402
from rapport.delivery.bootstrap import build as build_delivery  # noqa: E402
from rapport.delivery.settings import DeliverySettings  # noqa: E402
from rapport.grpctesting import serve_fakes, serve_in_process  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()


def quiet_window() -> dict[str, Any]:
    """Quiet hours configured, but elsewhere in the day (nothing is held)."""
    now = datetime.now(UTC)
    start = (now + timedelta(hours=6)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=7)).time().replace(second=0, microsecond=0)
    return {"*": {"start": start.isoformat(), "end": end.isoformat(), "time_zone": "UTC"}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_sinks(
    context: Any, sink: Counter, receiver: Counter, smtp_port: int
) -> tuple[Any, Any, int]:
    """(the sinks' process, its stop event, the webhook receiver's port)."""
    ready, ready_child = context.Pipe()
    stop = context.Event()
    sinks = context.Process(
        target=sinks_main, args=(sink, receiver, smtp_port, ready_child, stop), daemon=True
    )
    sinks.start()
    return sinks, stop, await asyncio.get_running_loop().run_in_executor(None, ready.recv)


def delivery_settings(
    args: argparse.Namespace,
    delivery_db: dict[str, Any],
    *,
    profile_address: str,
    consent_address: str,
    smtp_port: int,
    receiver_port: int,
) -> dict[str, Any]:
    """DeliverySettings' values (every replica has the same)."""
    return dict(
        **delivery_db,
        redis_url=args.redis,
        log_level="WARNING",
        profile_address=profile_address,
        consent_address=consent_address,
        smtp_port=smtp_port,
        smtp_start_tls=False,
        webhook_endpoints={
            "default": {"url": f"http://127.0.0.1:{receiver_port}/hook", "secret": SECRET}
        },
        frequency_caps=[{"limit": 1_000_000, "window_seconds": 86_400}],
        quiet_hours=quiet_window(),
        dispatch_concurrency=args.workers,
        provider_default_limit={"max_concurrency": args.workers},
        # A connection for every call in flight (none waits for the pool).
        webhook_max_connections=args.workers,
        dispatch_poll_seconds=0.05,
        profile_cache_seconds=args.profile_cache,
        **({"batch_linger_seconds": args.batch_linger} if args.batch_linger >= 0 else {}),
    )


def title(args: argparse.Namespace) -> str:
    replicas = (
        f", {args.replicas} delivery replicas in processes of their own" if args.split else ""
    )
    return (
        f"Delivery end to end ({args.messages} messages per channel, {args.customers} "
        f"customers, {args.backend}{', Redis caps' if args.redis else ''}{replicas}; caps, "
        "quiet hours, consent, idempotency on)"
    )


def profile_reads(gets: int, batches: int, batched: int) -> tuple[str, str]:
    return (
        "profile reads (whole run)",
        f"{gets:,} GetProfile, {batches:,} BatchGetProfiles "
        f"of {batched / max(batches, 1):.1f} names on average",
    )


async def main(args: argparse.Namespace) -> None:
    """Delivery, consent and the profile stand-in in this process."""
    context = multiprocessing.get_context("spawn")
    sink, receiver = Counter(context), Counter(context)
    smtp_port = free_port()
    sinks, stop, receiver_port = await start_sinks(context, sink, receiver, smtp_port)
    profiles = Profiles()
    async with databases(args.backend) as (consent_db, delivery_db):
        consent_settings = ConsentSettings(**consent_db, log_level="WARNING")
        async with (
            serve_fakes(
                lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profiles, s)
            ) as profile_address,
            serve_in_process(build_consent, consent_settings) as consent,
        ):
            settings = DeliverySettings(
                **delivery_settings(
                    args,
                    delivery_db,
                    profile_address=profile_address,
                    consent_address=consent.address,
                    smtp_port=smtp_port,
                    receiver_port=receiver_port,
                )
            )
            async with (
                serve_in_process(build_delivery, settings) as delivery,
                grpc.aio.insecure_channel(consent.address) as consent_channel,
                grpc.aio.insecure_channel(delivery.address) as channel,
            ):
                await grant_all(consent_grpc.ConsentServiceStub(consent_channel), args.customers)
                empty = await empty_rpc_timing(channel, 1000)
                client, orders, sender = start_client(context, [delivery.address])
                profiler = cProfile.Profile() if args.profile else None
                if profiler:
                    profiler.enable()
                servers = Servers({"this process": time.process_time})
                phases = await run_phases(client, sink, receiver, servers, args)
                orders.send(None)
                sender.join(10)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                    pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
    stop.set()
    sinks.join(10)
    print_table(
        title(args),
        [
            ("empty RPC (health Check), sequential", f"{empty.per_second:,.0f} calls/s"),
            *table(phases, empty.per_second, None),
            profile_reads(profiles.gets, profiles.batches, profiles.batched),
            ("target", "2,000 messages/s"),
        ],
    )


async def main_replicas(args: argparse.Namespace) -> None:
    """N delivery replicas, consent with the profile stand-in, each in a process of its own."""
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    sink, receiver = Counter(context), Counter(context)
    smtp_port = free_port()
    sinks, stop, receiver_port = await start_sinks(context, sink, receiver, smtp_port)
    # Replicas stop before their peers (whose streams they follow).
    replicas_stop, peers_stop = context.Event(), context.Event()
    async with databases(args.backend) as (consent_db, delivery_db):
        peers_pipe, peers_child = context.Pipe()
        peers = context.Process(target=peers_main, args=(consent_db, peers_child, peers_stop))
        peers.start()
        profile_address, consent_address = await loop.run_in_executor(None, peers_pipe.recv)
        values = delivery_settings(
            args,
            delivery_db,
            profile_address=profile_address,
            consent_address=consent_address,
            smtp_port=smtp_port,
            receiver_port=receiver_port,
        )
        sent = [context.Value("q", 0, lock=False) for _ in range(args.replicas)]
        replicas, addresses = [], []
        # Started together, as a rollout would (migrations take an advisory lock).
        pipes = []
        for count in sent:
            ready, ready_child = context.Pipe()
            replica = context.Process(
                target=replica_main, args=(values, count, ready_child, replicas_stop)
            )
            replica.start()
            replicas.append(replica)
            pipes.append(ready)
        for ready in pipes:
            addresses.append(await loop.run_in_executor(None, ready.recv))
        async with (
            grpc.aio.insecure_channel(consent_address) as consent_channel,
            grpc.aio.insecure_channel(addresses[0]) as channel,
        ):
            await grant_all(consent_grpc.ConsentServiceStub(consent_channel), args.customers)
            empty = await empty_rpc_timing(channel, 1000)
        client, orders, sender = start_client(context, addresses)
        servers = Servers(
            {
                **{
                    f"replica {i + 1}": (lambda pid=p.pid: cpu_seconds(pid))
                    for i, p in enumerate(replicas)
                },
                "consent+profile": lambda: cpu_seconds(peers.pid),
            },
            sent,
            beside={
                "CPU of PostgreSQL and Redis": store_cpu_seconds,
                "CPU of the whole machine": machine_cpu_seconds,
            },
        )
        phases = await run_phases(client, sink, receiver, servers, args)
        orders.send(None)
        sender.join(10)
        replicas_stop.set()
        for replica in replicas:
            replica.join(20)
        peers_stop.set()
        reads = await loop.run_in_executor(None, peers_pipe.recv)
        peers.join(20)
    stop.set()
    sinks.join(10)
    print_table(
        title(args),
        [
            ("empty RPC (health Check) on one replica", f"{empty.per_second:,.0f} calls/s"),
            *table(phases, empty.per_second, args.replicas),
            profile_reads(*reads),
            ("target", "2,000 messages/s"),
        ],
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64, help="SendMessage in flight")
    parser.add_argument("--workers", type=int, default=64, help="dispatch slots")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="above 1: also send each channel's messages with BatchSendMessages of this "
        "many (up to 1,000), printed after the SendMessage figures",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", default=None, help="Redis URL for the frequency caps")
    parser.add_argument(
        "--batch-linger",
        type=float,
        default=-1.0,
        help="RAPPORT_DELIVERY_BATCH_LINGER_SECONDS (default: the service's)",
    )
    parser.add_argument(
        "--profile-cache",
        type=float,
        default=0.0,
        help="RAPPORT_DELIVERY_PROFILE_CACHE_SECONDS (default 0, as the service's: "
        "GetProfile for every attempt)",
    )
    parser.add_argument("--profile", default=None, help="write a cProfile here")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="delivery replicas, each in a process of its own (2 or more: needs "
        "--backend postgres and --redis, which replicas share)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="processes of their own even for one replica (as --replicas 2 or more runs)",
    )
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.replicas > 1 and (args.backend != "postgres" or not args.redis):
        parser.error(
            "--replicas 2 or more needs --backend postgres and --redis: replicas share "
            "the queue and the frequency caps (SQLite and in-process caps are one replica's)"
        )
    args.split = args.split or args.replicas > 1
    if args.split and args.profile:
        parser.error("--profile profiles this process: with --replicas or --split, use py-spy")
    return args


if __name__ == "__main__":
    arguments = parse()
    eventloop.run((main_replicas if arguments.split else main)(arguments))
