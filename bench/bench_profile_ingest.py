"""Profile: sustained IngestEvents throughput, identity resolved by a real identity service.

    .venv/bin/python bench/bench_profile_ingest.py [--backend sqlite|postgres]
        [--events 50000] [--customers 1000] [--batch-size 500] [--concurrency 4]
        [--separate-client] [--identity-process] [--cprofile out.prof]

Identity and profile both run in this process (each on its own database), with the
client too (like sidecars sharing the machine's cores), or in a second process with
--separate-client; --identity-process runs identity in a process of its own (as
deployed: the two services then share the cores, not one interpreter). The traffic is what a Segment
source sends: --customers known customers (each first identified once, not timed),
then --events events spread over them at random (50 events per customer with the
defaults), in batches of --batch-size with --concurrency batches in flight:
75% track (3 properties), 10% page, 10% identify (email, plan, seats, a renewal
date), 5% group (2 group traits). Every event carries a user id and an anonymous id,
so identity resolves two identifiers per event.

With --computed-traits N (at most 10) and --segments N, that many computed traits
(counts, sums, averages, maxima, most frequent, unique counts, first and last of the
track events' properties, 90-day windows) and segments (CEL rules over plan, seats,
renewal date and the computed traits) are created before any event: every event then
updates the computed traits and re-evaluates the segments its changes affect.

The figure is events/s over the timed phase, next to the same profile server's empty
RPC (health Check) measured in the same run. PostgreSQL: RAPPORT_TEST_POSTGRES_URL
(default postgresql+asyncpg://postgres@127.0.0.1:5432/test); fresh schemas are
created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

import grpc
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from grpc_baseline import Timing, empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.grpctesting import serve_in_process  # noqa: E402
from rapport.identity.bootstrap import build as build_identity  # noqa: E402
from rapport.identity.settings import IdentitySettings  # noqa: E402
from rapport.profile.bootstrap import build as build_profile  # noqa: E402
from rapport.profile.settings import ProfileSettings  # noqa: E402
from rapport.profile.v1 import profile_service_pb2 as pb  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.sqlstore import create_engine  # noqa: E402

PARENT = "workspaces/default"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class Traffic:
    """Events of a fixed population of customers, in a reproducible random order."""

    def __init__(self, customers: int, seed: int = 7) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.customers = customers
        self._random = random.Random(seed)
        self._count = 0

    def _ids(self, n: int) -> dict[str, str]:
        return {"user_id": f"u-{self.run}-{n}", "anonymous_id": f"a-{self.run}-{n}"}

    def _message_id(self) -> str:
        self._count += 1
        return f"{self.run}-{self._count}"

    def identify(self, n: int) -> pb.Event:
        event = pb.Event(type=pb.EVENT_TYPE_IDENTIFY, message_id=self._message_id(), **self._ids(n))
        renewal = date(2025, 1, 1) + timedelta(days=self._random.randrange(365))
        event.traits.update(
            {
                "email": f"person.{self.run}.{n}@example.com",
                "plan": self._random.choice(["free", "pro", "team"]),
                "seats": self._random.randrange(1, 50),
                "renewal_date": renewal.isoformat(),
            }
        )
        event.context.update({"library": {"name": "analytics-python", "version": "2.3.3"}})
        return event

    def next(self) -> pb.Event:
        n = self._random.randrange(self.customers)
        roll = self._random.random()
        if roll < 0.10:
            return self.identify(n)
        ids = self._ids(n)
        sent = datetime.now(UTC)
        if roll < 0.15:
            event = pb.Event(
                type=pb.EVENT_TYPE_GROUP,
                message_id=self._message_id(),
                group_id=f"g-{self.run}-{n % 50}",
                **ids,
            )
            event.traits.update({"name": f"Account {n % 50}", "employees": n % 50 * 10})
        elif roll < 0.25:
            event = pb.Event(
                type=pb.EVENT_TYPE_PAGE, message_id=self._message_id(), event="Pricing", **ids
            )
            event.properties.update({"path": "/pricing", "referrer": "https://example.com/"})
        else:
            event = pb.Event(
                type=pb.EVENT_TYPE_TRACK,
                message_id=self._message_id(),
                event=self._random.choice(["Product Viewed", "Order Completed", "Signed In"]),
                **ids,
            )
            event.properties.update(
                {"sku": f"SKU-{self._random.randrange(500)}", "price": 9.99, "quantity": 1}
            )
        event.original_time.FromDatetime(sent - timedelta(seconds=self._random.randrange(60)))
        event.sent_time.FromDatetime(sent)
        return event


@asynccontextmanager
async def databases(backend: str) -> AsyncIterator[tuple[dict[str, str | None], ...]]:
    """(identity database settings, profile database settings)."""
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            yield (
                {"database_url": f"sqlite+aiosqlite:///{tmp}/identity.db"},
                {"database_url": f"sqlite+aiosqlite:///{tmp}/profile.db"},
            )
            return
        url = os.environ.get("RAPPORT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
        schemas = ["bench_" + uuid.uuid4().hex[:10] for _ in range(2)]
        try:
            yield tuple({"database_url": url, "database_schema": s} for s in schemas)
        finally:
            engine = create_engine(url)
            async with engine.begin() as conn:
                for schema in schemas:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


async def send_all(
    stub: pb_grpc.ProfileServiceStub, batches: list[list[pb.Event]], concurrency: int
) -> tuple[float, Counter[int]]:
    """Send every batch, ``concurrency`` in flight; (seconds, count of each status)."""
    statuses: Counter[int] = Counter()
    queue = list(reversed(batches))

    async def worker() -> None:
        while queue:
            events = queue.pop()
            reply = await stub.IngestEvents(
                pb.IngestEventsRequest(parent=PARENT, events=events), timeout=120
            )
            statuses.update(result.status for result in reply.results)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, statuses


def in_batches(events: list[pb.Event], size: int) -> list[list[pb.Event]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def identity_main(settings: dict[str, str | None], ready: Connection, stop: Event) -> None:
    """In a process of its own: the identity service until ``stop`` is set."""

    async def serve() -> None:
        async with serve_in_process(build_identity, IdentitySettings(**settings)) as identity:
            ready.send(identity.address)
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    eventloop.run(serve())


@asynccontextmanager
async def identity_service(
    identity_db: dict[str, str | None], own_process: bool
) -> AsyncIterator[str]:
    """The address of a real identity service: in this process, or in its own."""
    settings: dict[str, str | None] = {"log_level": "WARNING", **identity_db}
    if not own_process:
        async with serve_in_process(build_identity, IdentitySettings(**settings)) as identity:
            yield identity.address
        return
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    stop = context.Event()
    process = context.Process(target=identity_main, args=(settings, theirs, stop))
    process.start()
    loop = asyncio.get_running_loop()
    try:
        yield await loop.run_in_executor(None, ours.recv)
    finally:
        stop.set()
        await loop.run_in_executor(None, process.join, 60)


async def run(args: argparse.Namespace) -> None:
    async with databases(args.backend) as (identity_db, profile_db):
        async with identity_service(identity_db, args.identity_process) as identity_address:
            profile_settings = ProfileSettings(
                log_level="WARNING", identity_address=identity_address, **profile_db
            )
            async with serve_in_process(build_profile, profile_settings) as profile:
                profiler = cProfile.Profile() if args.cprofile else None
                cpu = CpuSampler()
                sampling = asyncio.create_task(cpu.run())
                if not args.separate_client:
                    figures = await client_phase(profile.address, args, profiler)
                else:
                    # The servers keep this process (and its profiler) to themselves.
                    if profiler is not None:
                        profiler.enable()
                    context = multiprocessing.get_context("spawn")
                    with ProcessPoolExecutor(1, mp_context=context) as pool:
                        figures = await asyncio.get_running_loop().run_in_executor(
                            pool, client_main, profile.address, args
                        )
                    if profiler is not None:
                        profiler.disable()
                sampling.cancel()
                if profiler is not None:
                    profiler.dump_stats(args.cprofile)
                empty, setup_seconds, seconds, statuses, window = figures
                report(args, empty, setup_seconds, seconds, statuses, cpu.between(*window))


class CpuSampler:
    """This process's CPU time (every thread: the servers, their database threads),
    sampled against the wall clock, so that the CPU of a phase timed elsewhere (the
    client process) can be read off afterwards."""

    def __init__(self, every: float = 0.02) -> None:
        self.every = every
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            self.samples.append((time.time(), time.process_time()))
            await asyncio.sleep(self.every)

    def between(self, start: float, end: float) -> float:
        """CPU seconds used between two wall-clock times (interpolated)."""
        return self._at(end) - self._at(start)

    def _at(self, moment: float) -> float:
        self.samples.append((time.time(), time.process_time()))
        before = [s for s in self.samples if s[0] <= moment]
        after = [s for s in self.samples if s[0] >= moment]
        if not before or not after:
            return (before or after)[-1 if before else 0][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)


def client_main(address: str, args: argparse.Namespace) -> tuple:
    return eventloop.run(client_phase(address, args, None))


COMPUTED_TRAITS = [
    ("orders", pb.COMPUTED_TRAIT_KIND_COUNT, "Order Completed", ""),
    ("views", pb.COMPUTED_TRAIT_KIND_COUNT, "Product Viewed", ""),
    ("sign_ins", pb.COMPUTED_TRAIT_KIND_COUNT, "Signed In", ""),
    ("spent", pb.COMPUTED_TRAIT_KIND_SUM, "Order Completed", "price"),
    ("basket", pb.COMPUTED_TRAIT_KIND_AVERAGE, "Order Completed", "price"),
    ("top_price", pb.COMPUTED_TRAIT_KIND_MAX, "Product Viewed", "price"),
    ("favourite_sku", pb.COMPUTED_TRAIT_KIND_MOST_FREQUENT, "Product Viewed", "sku"),
    ("skus_bought", pb.COMPUTED_TRAIT_KIND_UNIQUE_COUNT, "Order Completed", "sku"),
    ("first_sku", pb.COMPUTED_TRAIT_KIND_FIRST, "Product Viewed", "sku"),
    ("last_sku", pb.COMPUTED_TRAIT_KIND_LAST, "Order Completed", "sku"),
]


def segment_rules(count: int, computed: int) -> list[str]:
    """``count`` segment rules: over traits, dates, and the computed traits made."""
    rules = [
        'traits.plan == "pro"',
        'traits.plan == "team" && traits.seats > 10.0',
        "days_until(traits.renewal_date) <= 30",
        "days_since(traits.renewal_date) > 0",
    ]
    keys = [key for key, *_ in COMPUTED_TRAITS[:computed]]
    for n in range(count):
        if keys and n % 2:
            key = keys[n % len(keys)]
            rules.append(f"has(computed_traits.{key}) && computed_traits.{key} != 0")
        else:
            rules.append(f"traits.seats > {float(n % 40)}")
    return rules[:count]


async def configure(stub: pb_grpc.ProfileServiceStub, args: argparse.Namespace) -> None:
    for key, kind, event, prop in COMPUTED_TRAITS[: args.computed_traits]:
        await stub.CreateComputedTrait(
            pb.CreateComputedTraitRequest(
                parent=PARENT,
                computed_trait=pb.ComputedTrait(key=key, kind=kind, event=event, property=prop),
            )
        )
    for n, rule in enumerate(segment_rules(args.segments, args.computed_traits)):
        await stub.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT, segment_id=f"bench-{n}", segment=pb.Segment(rule=rule)
            )
        )


async def client_phase(
    address: str, args: argparse.Namespace, profiler: cProfile.Profile | None
) -> tuple[Timing, float, float, Counter[int]]:
    """(empty RPC timing, first-sight seconds, timed seconds, statuses, the timed
    phase's wall-clock (start, end))."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        traffic = Traffic(args.customers)
        empty = await empty_rpc_timing(channel)
        await configure(stub, args)
        first = in_batches([traffic.identify(n) for n in range(args.customers)], args.batch_size)
        setup_seconds, _ = await send_all(stub, first, args.concurrency)
        batches = in_batches([traffic.next() for _ in range(args.events)], args.batch_size)
        if profiler is not None:
            profiler.enable()
        started = time.time()
        seconds, statuses = await send_all(stub, batches, args.concurrency)
        ended = time.time()
        if profiler is not None:
            profiler.disable()
    return empty, setup_seconds, seconds, statuses, (started, ended)


def report(
    args: argparse.Namespace,
    empty: Timing,
    setup_seconds: float,
    seconds: float,
    statuses: Counter[int],
    server_cpu: float,
) -> None:
    per_second = args.events / seconds
    accepted = statuses[pb.INGEST_STATUS_ACCEPTED]
    client = "a second process" if args.separate_client else "the same process"
    identity = "its own process" if args.identity_process else "the same process"
    print_table(
        f"profile IngestEvents on {args.backend} ({os.cpu_count()} cores, identity in "
        f"{identity}, client in {client})",
        [
            ("empty RPC (health Check)", f"p50 {empty.p50_ms:.3f} ms, {empty.per_second:,.0f}/s"),
            (
                "first sight (identify)",
                f"{args.customers:,} customers in {setup_seconds:.1f} s "
                f"= {args.customers / setup_seconds:,.0f} events/s",
            ),
            (
                "sustained IngestEvents",
                f"{per_second:,.0f} events/s ({args.events:,} events, {args.customers:,} "
                f"customers, ~{args.events // args.customers} events each, batches of "
                f"{args.batch_size}, {args.concurrency} in flight, {seconds:.1f} s)",
            ),
            (
                "configured",
                f"{args.computed_traits} computed traits, {args.segments} segments",
            ),
            ("accepted", f"{accepted:,} of {args.events:,}"),
            ("events/s ÷ empty RPCs/s", f"{per_second / empty.per_second:.2f}"),
            (
                "CPU of the server process",
                f"{server_cpu / args.events * 1e6:,.0f} µs per event "
                f"({server_cpu:.1f} s CPU in {seconds:.1f} s)"
                + ("" if args.separate_client else ", the client's included"),
            ),
            ("target (issue 7)", "≥ 10,000 events/s"),
        ],
    )
    if accepted != args.events:
        raise SystemExit(f"expected every event accepted, got {dict(statuses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--separate-client", action="store_true", help="client in a 2nd process")
    parser.add_argument(
        "--identity-process", action="store_true", help="identity in a process of its own"
    )
    parser.add_argument("--cprofile", help="write cProfile stats of the servers' work here")
    parser.add_argument(
        "--computed-traits", type=int, default=0, choices=range(len(COMPUTED_TRAITS) + 1)
    )
    parser.add_argument("--segments", type=int, default=0)
    args = parser.parse_args()
    eventloop.run(run(args))


if __name__ == "__main__":
    main()
