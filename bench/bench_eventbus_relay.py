"""Event bus: records/s a LogRelay publishes from a SQLite log to JetStream, and records/s
durable consumers handle, as ratios to an empty gRPC RPC of a runtime server started here.

    .venv/bin/python bench/bench_eventbus_relay.py [--records N] [--batch-size N]

NATS: RAPPORT_TEST_NATS_URL (default nats://127.0.0.1:4222); the bench's streams are
deleted afterwards. Relay, consumers, NATS client and gRPC server share this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "runtime" / "tests"))
from _eventbus_support import SqlLog, delete_stream, make_relay, new_subjects  # noqa: E402
from grpc_baseline import empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.config import ServiceSettings  # noqa: E402
from rapport.eventbus import ConsumerSpec, Delivery, DurableConsumer, NatsBus  # noqa: E402
from rapport.grpcserver import ServiceParts  # noqa: E402
from rapport.grpctesting import eventually, serve_in_process  # noqa: E402

_RUN_LIMIT_SECONDS = 600


async def health_only(settings: ServiceSettings) -> ServiceParts:
    return ServiceParts(register=[], service_names=[], error_domain="bench.rapport.dev")


async def until(check) -> None:
    """Poll ``check`` finely; a stalled run stops after _RUN_LIMIT_SECONDS."""
    await eventually(check, timeout=_RUN_LIMIT_SECONDS, interval=0.002)


async def relay_rate(url: str, log: SqlLog, subjects, records: int, batch_size: int) -> float:
    bus = NatsBus(url, name="bench-relay")
    relay = make_relay(bus, subjects, log, batch_size=batch_size)
    await bus.jetstream()  # connect before timing
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        await until(lambda: relay.stats.published >= records)
        return records / (time.perf_counter() - started)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()


async def consume_rate(url: str, subjects, records: int, spec: ConsumerSpec) -> float:
    bus = NatsBus(url, name=f"bench-{spec.durable}")
    handled = 0

    async def handle(delivery: Delivery) -> None:
        nonlocal handled
        handled += 1

    consumer = DurableConsumer(bus, subjects, spec, handle)
    await bus.jetstream()
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    try:
        await until(lambda: handled >= records)
        return records / (time.perf_counter() - started)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()


async def run(records: int, batch_size: int) -> None:
    url = os.environ.get("RAPPORT_TEST_NATS_URL", "nats://127.0.0.1:4222")
    subjects = new_subjects(partitions=16)
    settings = ServiceSettings(service_name="bench", log_level="WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        log = await SqlLog.create(f"sqlite+aiosqlite:///{tmp}/log.db")
        try:
            await log.append(records, customers=1000, body=lambda n: "x" * 200)
            async with serve_in_process(health_only, settings) as server:
                async with grpc.aio.insecure_channel(server.address) as channel:
                    empty = await empty_rpc_timing(channel)
            published = await relay_rate(url, log, subjects, records, batch_size)
            unordered = await consume_rate(
                url,
                subjects,
                records,
                ConsumerSpec("bench-unordered", ordered=False, concurrency=8),
            )
            batched = await consume_rate(
                url,
                subjects,
                records,
                ConsumerSpec("bench-batched", ordered=False, concurrency=8, fetch_batch=8),
            )
            ordered = await consume_rate(url, subjects, records, ConsumerSpec("bench-ordered"))
        finally:
            await log.engine.dispose()
            await delete_stream(url, subjects.stream)

    def row(label: str, rate: float) -> tuple[str, str]:
        return label, f"{rate:10.0f} records/s   {rate / empty.per_second:6.2f} x empty RPC"

    print_table(
        f"Event bus, {records} records of 200 bytes, SQLite log, NATS {url.split('@')[-1]}",
        [
            (
                "empty RPC (health Check)",
                f"{empty.per_second:10.0f} calls/s   (p50 {empty.p50_ms:.3f} ms)",
            ),
            row(f"relay published (batch {batch_size})", published),
            row("consumed, unordered (8 handlers)", unordered),
            row("consumed, unordered (8 handlers, fetch 8)", batched),
            row(f"consumed, ordered ({subjects.partitions} partitions)", ordered),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    eventloop.run(run(args.records, args.batch_size))


if __name__ == "__main__":
    main()
