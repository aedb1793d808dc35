"""Profile: re-evaluation of a time-dependent segment over N profiles.

    .venv/bin/python bench/bench_segments_reeval.py [--profiles 1000000]
        [--chunk-size 5000] [--backend sqlite|postgres]

The profile database is seeded directly (bulk inserts, not timed) with --profiles
customers, each with a `renewal_date` trait spread over a year around today and a
`plan` trait. A profile server then runs on it; the segment
`days_until(traits.renewal_date) <= 30 && traits.plan != "free"` is created through
CreateSegment and the server's background evaluator applies it to every customer,
chunk by chunk (range reads, bulk writes of the differences, signals for each
entry/exit). Timed: that first evaluation (every member enters), then a scheduled
re-evaluation (--interval seconds later: few changes). Printed: seconds and
profiles/s of each, next to the same server's empty RPC measured in the same run.
PostgreSQL: RAPPORT_TEST_POSTGRES_URL, a fresh schema created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).parent))
from grpc_baseline import empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.grpctesting import serve_in_process  # noqa: E402
from rapport.profile.adapters.tables import profiles, traits  # noqa: E402
from rapport.profile.bootstrap import MIGRATIONS_DIR  # noqa: E402
from rapport.profile.bootstrap import build as build_profile  # noqa: E402
from rapport.profile.settings import ProfileSettings  # noqa: E402
from rapport.profile.v1 import profile_service_pb2 as pb  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.sqlstore import create_engine, migrate  # noqa: E402

WORKSPACE = "default"
PARENT = f"workspaces/{WORKSPACE}"
RULE = 'days_until(traits.renewal_date) <= 30 && traits.plan != "free"'
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_SEED_CHUNK = 20_000


@asynccontextmanager
async def database(backend: str) -> AsyncIterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            yield {"database_url": f"sqlite+aiosqlite:///{tmp}/profile.db"}
            return
        url = os.environ.get("RAPPORT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
        schema = "bench_" + uuid.uuid4().hex[:10]
        try:
            yield {"database_url": url, "database_schema": schema}
        finally:
            engine = create_engine(url)
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


async def seed(db: dict[str, str], count: int) -> float:
    """Insert ``count`` profiles with their traits; seconds taken."""
    started = time.perf_counter()
    engine = create_engine(db["database_url"], schema=db.get("database_schema"))
    await migrate(engine, MIGRATIONS_DIR, schema=db.get("database_schema"))
    rng = random.Random(7)
    now = datetime.now(UTC)
    today = now.date()
    for start in range(0, count, _SEED_CHUNK):
        ids = [f"c{n:08d}" for n in range(start, min(count, start + _SEED_CHUNK))]
        profile_rows = [
            {
                "workspace": WORKSPACE,
                "customer_id": c,
                "event_count": 1,
                "first_seen_time": now,
                "last_seen_time": now,
            }
            for c in ids
        ]
        trait_rows = []
        for c in ids:
            renewal = (today + timedelta(days=rng.randrange(-30, 335))).isoformat()
            for key, value in (
                ("renewal_date", renewal),
                ("plan", rng.choice(["free", "pro", "team"])),
            ):
                trait_rows.append(
                    {
                        "workspace": WORKSPACE,
                        "customer_id": c,
                        "key": key,
                        "value": value,
                        "source_message_id": "seed",
                        "update_time": now,
                        "received_at": now,
                        "batch_index": 0,
                    }
                )
        async with engine.begin() as conn:
            await conn.execute(insert(profiles), profile_rows)
            await conn.execute(insert(traits), trait_rows)
    await engine.dispose()
    return time.perf_counter() - started


async def evaluated_after(
    stub: pb_grpc.ProfileServiceStub, name: str, after: datetime | None
) -> tuple[pb.Segment, float]:
    """Poll until the segment's last evaluation is newer than ``after``; (segment, the
    wall time it was seen)."""
    while True:
        segment = await stub.GetSegment(pb.GetSegmentRequest(name=name))
        if segment.HasField("last_evaluation_time"):
            moment = segment.last_evaluation_time.ToDatetime(tzinfo=UTC)
            if after is None or moment > after:
                return segment, time.time()
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> None:
    async with database(args.backend) as db:
        seed_seconds = await seed(db, args.profiles)
        settings = ProfileSettings(
            log_level="WARNING",
            segment_chunk_size=args.chunk_size,
            segment_reevaluation_interval=args.interval,
            segment_poll_interval=0.2,
            **db,
        )
        async with serve_in_process(build_profile, settings) as server:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = pb_grpc.ProfileServiceStub(channel)
                empty = await empty_rpc_timing(channel)
                created_at = time.time()
                segment = await stub.CreateSegment(
                    pb.CreateSegmentRequest(
                        parent=PARENT, segment_id="renewing", segment=pb.Segment(rule=RULE)
                    )
                )
                first, seen = await evaluated_after(stub, segment.name, None)
                first_seconds = seen - created_at
                first_start = first.last_evaluation_time.ToDatetime(tzinfo=UTC)
                second, seen = await evaluated_after(stub, segment.name, first_start)
                second_start = second.last_evaluation_time.ToDatetime(tzinfo=UTC)
                second_seconds = seen - second_start.timestamp()
                members = second.member_count
    rate = args.profiles / max(second_seconds, 1e-9)
    print_table(
        f"profile segment re-evaluation on {args.backend} ({os.cpu_count()} cores, "
        f"{args.profiles:,} profiles, chunks of {args.chunk_size:,})",
        [
            ("empty RPC (health Check)", f"p50 {empty.p50_ms:.3f} ms, {empty.per_second:,.0f}/s"),
            ("seeding (not timed)", f"{seed_seconds:.1f} s"),
            ("rule", RULE),
            (
                "first evaluation (all enter)",
                f"{first_seconds:.1f} s = {args.profiles / first_seconds:,.0f} profiles/s, "
                f"{first.member_count:,} members",
            ),
            (
                "scheduled re-evaluation",
                f"{second_seconds:.1f} s = {rate:,.0f} profiles/s, {members:,} members",
            ),
            ("profiles/s ÷ empty RPCs/s", f"{rate / empty.per_second:.1f}"),
            ("target (issue 7)", "≤ 60 s for 1,000,000 profiles"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--interval", type=float, default=2.0, help="re-evaluation interval, s")
    eventloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
