"""Delivery: messages/s end to end, into an aiosmtpd sink and into a webhook receiver.

    .venv/bin/python bench/bench_delivery_throughput.py [--messages 2000] [--customers 500]
        [--concurrency 64] [--backend sqlite|postgres] [--redis URL] [--profile FILE]
        [--batch-size N]

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
from delivery_stand_ins import Counter, Profiles, sinks_main  # noqa: E402
from grpc_baseline import empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.consent.bootstrap import build as build_consent  # noqa: E402
from rapport.consent.settings import ConsentSettings  # noqa: E402
from rapport.consent.v1 import consent_service_pb2 as consent_pb  # noqa: E402
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc  # noqa: E402
from rapport.delivery.bootstrap import build as build_delivery  # noqa: E402
from rapport.delivery.settings import DeliverySettings  # noqa: E402
from rapport.delivery.v1 import delivery_service_pb2 as pb  # noqa: E402
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.grpctesting import serve_fakes, serve_in_process  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc  # noqa: E402
from rapport.type.v1 import channel_pb2, message_content_pb2  # noqa: E402

WORKSPACE = "workspaces/default"
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


def customer(i: int) -> str:
    return f"{WORKSPACE}/customers/c{i:06d}"


async def grant_all(stub: consent_grpc.ConsentServiceStub, customers: int) -> None:
    sem = asyncio.Semaphore(32)

    async def grant(i: int, channel: int) -> None:
        async with sem:
            await stub.RecordConsent(
                consent_pb.RecordConsentRequest(
                    parent=customer(i),
                    record=consent_pb.ConsentRecord(
                        purpose="marketing",
                        channel=channel,  # type: ignore[arg-type]
                        state=consent_pb.CONSENT_STATE_GRANTED,
                        source="bench",
                    ),
                )
            )

    await asyncio.gather(
        *(
            grant(i, c)
            for i in range(customers)
            for c in (channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_WEBHOOK)
        )
    )


async def send_all(
    stub: pb_grpc.DeliveryServiceStub,
    *,
    channel: int,
    messages: int,
    customers: int,
    concurrency: int,
    tag: str,
    batch_size: int,
) -> tuple[float, float]:
    """Every message sent through SendMessage (or BatchSendMessages when batch_size > 1);
    (perf_counter at the first call, at the last answer)."""
    content = message_content_pb2.MessageContent(
        subject="Hello {{ traits.first_name }}", text_body="Hi {{ traits.first_name }}!"
    )

    def request(i: int) -> pb.SendMessageRequest:
        return pb.SendMessageRequest(
            parent=WORKSPACE,
            idempotency_key=f"{tag}-{i}",
            customer=customer(i % customers),
            purpose="marketing",
            channel=channel,  # type: ignore[arg-type]
            content=content,
        )

    # Batches in flight: as many messages as `concurrency` SendMessage calls would
    # hold, but at least two (one being written while the next is on its way).
    sem = asyncio.Semaphore(concurrency if batch_size == 1 else max(2, concurrency // batch_size))

    async def send(i: int) -> None:
        async with sem:
            await stub.SendMessage(request(i))

    async def send_batch(first: int) -> None:
        async with sem:
            await stub.BatchSendMessages(
                pb.BatchSendMessagesRequest(
                    parent=WORKSPACE,
                    requests=[request(i) for i in range(first, min(first + batch_size, messages))],
                )
            )

    started = time.perf_counter()
    if batch_size == 1:
        await asyncio.gather(*(send(i) for i in range(messages)))
    else:
        await asyncio.gather(*(send_batch(i) for i in range(0, messages, batch_size)))
    return started, time.perf_counter()


def client_main(address: str, orders: Any) -> None:
    """The bench's client, in a process of its own (delivery's callers are elsewhere): runs
    each phase it is sent (send_all's arguments) and answers (started, accepted, its CPU
    seconds for the phase); None stops it."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.DeliveryServiceStub(channel)
            while (order := await loop.run_in_executor(None, orders.recv)) is not None:
                cpu = time.process_time()
                started, accepted = await send_all(stub, **order)
                orders.send((started, accepted, time.process_time() - cpu))

    eventloop.run(serve())


class Client:
    """This process's end of the client process's pipe."""

    def __init__(self, orders: Any) -> None:
        self._orders = orders

    async def send_all(self, **order: Any) -> tuple[float, float, float]:
        self._orders.send(order)
        loop = asyncio.get_running_loop()
        answer: tuple[float, float, float] = await loop.run_in_executor(None, self._orders.recv)
        return answer


async def run_phase(
    client: Client,
    channel: int,
    counter: Counter,
    *,
    messages: int,
    customers: int,
    concurrency: int,
    tag: str,
    batch_size: int = 1,
) -> tuple[float, float, float, float]:
    """(messages/s end to end, messages/s accepted by SendMessage (or BatchSendMessages
    when batch_size > 1), CPU ms per message of this process: delivery, consent and the
    profile stand-in, CPU ms per message of the client's process)."""
    before = counter.count
    cpu_started = time.process_time()
    # The client's clock is this one (perf_counter: one clock for every process here).
    started, accepted, client_cpu = await client.send_all(
        channel=channel,
        messages=messages,
        customers=customers,
        concurrency=concurrency,
        tag=tag,
        batch_size=batch_size,
    )
    deadline = accepted + 300
    # Polling the counters (the sinks count in their own process): 10 ms of resolution at
    # most on a span of seconds.
    while counter.count - before < messages and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    done = counter.count - before
    if done < messages:
        print(f"  only {done} of {messages} arrived within 300 s", flush=True)
    # The process keeps recording outcomes and status events after the last arrival: a
    # moment more, so that its CPU counts them (the polling itself costs next to nothing).
    await asyncio.sleep(0.3)
    cpu = time.process_time() - cpu_started
    return (
        done / (counter.last - started),
        messages / (accepted - started),
        1000 * cpu / messages,
        1000 * client_cpu / messages,
    )


async def main(args: argparse.Namespace) -> None:
    context = multiprocessing.get_context("spawn")
    sink, receiver = Counter(context), Counter(context)
    smtp_port = free_port()
    ready, ready_child = context.Pipe()
    stop = context.Event()
    sinks = context.Process(
        target=sinks_main, args=(sink, receiver, smtp_port, ready_child, stop), daemon=True
    )
    sinks.start()
    receiver_port = await asyncio.get_running_loop().run_in_executor(None, ready.recv)
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
                **delivery_db,
                redis_url=args.redis,
                log_level="WARNING",
                profile_address=profile_address,
                consent_address=consent.address,
                smtp_port=smtp_port,
                smtp_start_tls=False,
                webhook_endpoints={
                    "default": {
                        "url": f"http://127.0.0.1:{receiver_port}/hook",
                        "secret": SECRET,
                    }
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
            async with (
                serve_in_process(build_delivery, settings) as delivery,
                grpc.aio.insecure_channel(consent.address) as consent_channel,
                grpc.aio.insecure_channel(delivery.address) as channel,
            ):
                await grant_all(consent_grpc.ConsentServiceStub(consent_channel), args.customers)
                empty = await empty_rpc_timing(channel, 1000)
                orders, orders_child = context.Pipe()
                sender = context.Process(
                    target=client_main, args=(delivery.address, orders_child), daemon=True
                )
                sender.start()
                client = Client(orders)
                profiler = cProfile.Profile() if args.profile else None
                if profiler:
                    profiler.enable()
                # A short warm-up (connections, caches), not counted.
                await run_phase(
                    client,
                    channel_pb2.CHANNEL_EMAIL,
                    sink,
                    messages=min(200, args.messages),
                    customers=args.customers,
                    concurrency=args.concurrency,
                    tag="warm",
                )
                email, email_accept, email_cpu, email_client = await run_phase(
                    client,
                    channel_pb2.CHANNEL_EMAIL,
                    sink,
                    messages=args.messages,
                    customers=args.customers,
                    concurrency=args.concurrency,
                    tag="email",
                )
                hook, hook_accept, hook_cpu, hook_client = await run_phase(
                    client,
                    channel_pb2.CHANNEL_WEBHOOK,
                    receiver,
                    messages=args.messages,
                    customers=args.customers,
                    concurrency=args.concurrency,
                    tag="hook",
                )
                batched: list[tuple[str, str]] = []
                if args.batch_size > 1:
                    for name, channel, counter, tag in (
                        ("email", channel_pb2.CHANNEL_EMAIL, sink, "batch-email"),
                        ("webhook", channel_pb2.CHANNEL_WEBHOOK, receiver, "batch-hook"),
                    ):
                        rate, accept, cpu, client_cpu = await run_phase(
                            client,
                            channel,
                            counter,
                            messages=args.messages,
                            customers=args.customers,
                            concurrency=args.concurrency,
                            tag=tag,
                            batch_size=args.batch_size,
                        )
                        batched += [
                            (f"{name}, BatchSendMessages of {args.batch_size}", ""),
                            ("  end to end", f"{rate:,.0f} messages/s"),
                            ("  accepted", f"{accept:,.0f} messages/s"),
                            ("  CPU per message (this process)", f"{cpu:.2f} ms"),
                            ("  client CPU per message (its process)", f"{client_cpu:.2f} ms"),
                        ]
                orders.send(None)
                sender.join(10)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                    pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
    stop.set()
    sinks.join(10)
    empty_per_second = empty.per_second
    print_table(
        f"Delivery end to end ({args.messages} messages per channel, {args.customers} "
        f"customers, {args.backend}{', Redis caps' if args.redis else ''}; caps, quiet "
        "hours, consent, idempotency on)",
        [
            ("empty RPC (health Check), sequential", f"{empty_per_second:,.0f} calls/s"),
            ("email into aiosmtpd", f"{email:,.0f} messages/s"),
            ("  ratio to the empty RPC", f"{email / empty_per_second:.3f}"),
            ("  SendMessage accepted", f"{email_accept:,.0f} messages/s"),
            ("  CPU per message (this process)", f"{email_cpu:.2f} ms"),
            ("  client CPU per message (its process)", f"{email_client:.2f} ms"),
            ("webhook into the receiver", f"{hook:,.0f} messages/s"),
            ("  ratio to the empty RPC", f"{hook / empty_per_second:.3f}"),
            ("  SendMessage accepted", f"{hook_accept:,.0f} messages/s"),
            ("  CPU per message (this process)", f"{hook_cpu:.2f} ms"),
            ("  client CPU per message (its process)", f"{hook_client:.2f} ms"),
            *batched,
            (
                "profile reads (whole run)",
                f"{profiles.gets:,} GetProfile, {profiles.batches:,} BatchGetProfiles "
                f"of {profiles.batched / max(profiles.batches, 1):.1f} names on average",
            ),
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
    return parser.parse_args()


if __name__ == "__main__":
    eventloop.run(main(parse()))
