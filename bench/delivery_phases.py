"""The phases bench_delivery_throughput.py times: a client (in a process of its own)
sending each channel's messages through SendMessage or BatchSendMessages, spread over
the delivery replicas in turn, while the server processes' CPU, each replica's sends and
the sinks' counts are read; and the table of the figures."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from delivery_stand_ins import Counter
from rapport import eventloop
from rapport.consent.v1 import consent_service_pb2 as consent_pb
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.type.v1 import channel_pb2, message_content_pb2

WORKSPACE = "workspaces/default"


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
    stubs: list[pb_grpc.DeliveryServiceStub],
    *,
    channel: int,
    messages: int,
    customers: int,
    concurrency: int,
    tag: str,
    batch_size: int,
) -> tuple[float, float]:
    """Every message sent through SendMessage (or BatchSendMessages when batch_size > 1),
    the calls spread over `stubs` (the replicas) in turn; (perf_counter at the first
    call, at the last answer)."""
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
            await stubs[i % len(stubs)].SendMessage(request(i))

    async def send_batch(first: int) -> None:
        async with sem:
            await stubs[first // batch_size % len(stubs)].BatchSendMessages(
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


def client_main(addresses: list[str], orders: Any) -> None:
    """The bench's client, in a process of its own (delivery's callers are elsewhere): runs
    each phase it is sent (send_all's arguments) and answers (started, accepted, its CPU
    seconds for the phase); None stops it. A channel per replica (`addresses`)."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        channels = [grpc.aio.insecure_channel(address) for address in addresses]
        stubs = [pb_grpc.DeliveryServiceStub(channel) for channel in channels]
        try:
            while (order := await loop.run_in_executor(None, orders.recv)) is not None:
                cpu = time.process_time()
                started, accepted = await send_all(stubs, **order)
                orders.send((started, accepted, time.process_time() - cpu))
        finally:
            for channel in channels:
                await channel.close()

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


@dataclass
class Servers:
    """The server processes a phase's CPU counts (a name -> its CPU seconds so far) and
    each replica's count of messages sent (shared memory; none in one process)."""

    cpu: dict[str, Callable[[], float]]
    sent: list[Any] = field(default_factory=list)
    # Printed beside, not in the servers' sum (PostgreSQL, the whole machine...).
    beside: dict[str, Callable[[], float]] = field(default_factory=dict)


@dataclass
class Phase:
    rate: float  # messages/s end to end
    accepted: float  # messages/s accepted by SendMessage (or BatchSendMessages)
    cpu: float  # CPU ms per message of the server processes, all together
    client: float  # CPU ms per message of the client's process
    cpu_by: dict[str, float]  # the same, per process (or group of processes)
    beside: dict[str, float]  # CPU ms per message of Servers.beside
    sent: list[int]  # messages each replica sent
    duplicates: int


async def run_phase(
    client: Client,
    channel: int,
    counter: Counter,
    servers: Servers,
    *,
    messages: int,
    customers: int,
    concurrency: int,
    tag: str,
    batch_size: int = 1,
) -> Phase:
    before, duplicates = counter.count, counter.duplicates
    sent = [count.value for count in servers.sent]
    reads = {**servers.cpu, **servers.beside}
    cpu_started = {name: read() for name, read in reads.items()}
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
    # The servers keep recording outcomes and status events after the last arrival: a
    # moment more, so that their CPU counts them (the polling itself costs next to nothing).
    await asyncio.sleep(0.3)
    cpu_by = {name: 1000 * (read() - cpu_started[name]) / messages for name, read in reads.items()}
    beside = {name: cpu_by.pop(name) for name in servers.beside}
    return Phase(
        rate=done / (counter.last - started),
        accepted=messages / (accepted - started),
        cpu=sum(cpu_by.values()),
        client=1000 * client_cpu / messages,
        cpu_by=cpu_by,
        beside=beside,
        sent=[count.value - was for count, was in zip(servers.sent, sent, strict=True)],
        duplicates=counter.duplicates - duplicates,
    )


async def run_phases(
    client: Client, sink: Counter, receiver: Counter, servers: Servers, args: argparse.Namespace
) -> list[tuple[str, Phase]]:
    """A short warm-up (connections, caches; not counted), then each channel through
    SendMessage and, with --batch-size, through BatchSendMessages."""
    common = {"customers": args.customers, "concurrency": args.concurrency}
    messages = min(200, args.messages)
    await run_phase(
        client, channel_pb2.CHANNEL_EMAIL, sink, servers, messages=messages, tag="warm", **common
    )
    channels = [
        ("email into aiosmtpd", channel_pb2.CHANNEL_EMAIL, sink, "email"),
        ("webhook into the receiver", channel_pb2.CHANNEL_WEBHOOK, receiver, "hook"),
    ]
    phases = []
    for name, kind, counter, tag in channels:
        phase = await run_phase(
            client, kind, counter, servers, messages=args.messages, tag=tag, **common
        )
        phases.append((name, phase))
    if args.batch_size > 1:
        for name, kind, counter, tag in channels:
            phase = await run_phase(
                client,
                kind,
                counter,
                servers,
                messages=args.messages,
                tag=f"batch-{tag}",
                batch_size=args.batch_size,
                **common,
            )
            short = name.split(" ", 1)[0]
            phases.append((f"{short}, BatchSendMessages of {args.batch_size}", phase))
    return phases


def table(
    phases: list[tuple[str, Phase]], empty_per_second: float, replicas: int | None
) -> list[tuple[str, str]]:
    """The figures of each phase (with one process, replicas None: as they always were)."""
    where = "this process" if replicas is None else f"all {replicas + 1} server processes"
    rows: list[tuple[str, str]] = []
    for name, phase in phases:
        batch = "BatchSendMessages" in name
        rows += [(name, "") if batch else (name, f"{phase.rate:,.0f} messages/s")]
        if batch:
            rows.append(("  end to end", f"{phase.rate:,.0f} messages/s"))
        else:
            rows.append(("  ratio to the empty RPC", f"{phase.rate / empty_per_second:.3f}"))
        rows += [
            (
                "  accepted" if batch else "  SendMessage accepted",
                f"{phase.accepted:,.0f} messages/s",
            ),
            (f"  CPU per message ({where})", f"{phase.cpu:.2f} ms"),
        ]
        if replicas is not None:
            rows.append(
                ("    of which", ", ".join(f"{n} {ms:.2f} ms" for n, ms in phase.cpu_by.items()))
            )
        rows.append(("  client CPU per message (its process)", f"{phase.client:.2f} ms"))
        if replicas is not None:
            rows += [(f"  {name}", f"{ms:.2f} ms per message") for name, ms in phase.beside.items()]
            rows += [
                ("  sent by each replica", " / ".join(f"{n:,}" for n in phase.sent)),
                ("  duplicates at the sink", f"{phase.duplicates:,}"),
            ]
    return rows


def start_client(context: Any, addresses: list[str]) -> tuple[Client, Any, Any]:
    """(the client, its pipe, its process)."""
    orders, orders_child = context.Pipe()
    sender = context.Process(target=client_main, args=(addresses, orders_child), daemon=True)
    sender.start()
    return Client(orders), orders, sender
