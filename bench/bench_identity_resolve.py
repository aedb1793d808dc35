"""Identity: Resolve latency and BatchResolve throughput, as ratios to an empty RPC.

    .venv/bin/python bench/bench_identity_resolve.py [--backend sqlite|postgres] [--batches N]

Client and server share this process and the machine's cores, like a sidecar would.
PostgreSQL: RAPPORT_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test);
a fresh schema is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from grpc_baseline import empty_rpc_timing, print_table, time_calls  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.grpctesting import serve_in_process  # noqa: E402
from rapport.identity.bootstrap import build  # noqa: E402
from rapport.identity.settings import IdentitySettings  # noqa: E402
from rapport.identity.v1 import identity_service_pb2 as pb  # noqa: E402
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.sqlstore import create_engine  # noqa: E402
from rapport.type.v1 import identifier_pb2  # noqa: E402

PARENT = "workspaces/default"
IDENTIFIERS_PER_OBSERVATION = 3


def observation(n: int, run: str) -> pb.ResolveRequest:
    return pb.ResolveRequest(
        identifiers=[
            identifier_pb2.Identifier(type="user_id", value=f"u-{run}-{n}"),
            identifier_pb2.Identifier(type="email", value=f"Person.{run}.{n}@Example.com"),
            identifier_pb2.Identifier(type="anonymous_id", value=f"a-{run}-{n}"),
        ]
    )


async def run(backend: str, batches: int, batch_size: int) -> None:
    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "postgres":
            url = os.environ.get(
                "RAPPORT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
            )
            schema = "bench_" + uuid.uuid4().hex[:10]
        else:
            url = f"sqlite+aiosqlite:///{tmp}/identity.db"
        settings = IdentitySettings(database_url=url, database_schema=schema, log_level="WARNING")
        try:
            async with serve_in_process(build, settings) as server:
                async with grpc.aio.insecure_channel(server.address) as channel:
                    await measure(channel, backend, batches, batch_size)
        finally:
            if schema:
                engine = create_engine(url)
                async with engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                await engine.dispose()


async def measure(channel: grpc.aio.Channel, backend: str, batches: int, batch_size: int) -> None:
    stub = pb_grpc.IdentityServiceStub(channel)
    empty = await empty_rpc_timing(channel)
    run_id = uuid.uuid4().hex[:6]

    def resolve(i: int):
        request = observation(i, run_id + "r")
        request.parent = PARENT
        return stub.Resolve(request)

    single = await time_calls(resolve, 500)

    def batch(i: int):
        requests = [observation(i * batch_size + k, run_id + "b") for k in range(batch_size)]
        return stub.BatchResolve(pb.BatchResolveRequest(parent=PARENT, requests=requests))

    started = time.perf_counter()
    batch_timing = await time_calls(batch, batches)
    elapsed = time.perf_counter() - started
    identifiers = batches * batch_size * IDENTIFIERS_PER_OBSERVATION
    per_second = identifiers / sum(batch_timing.samples)
    print_table(
        f"identity on {backend} ({os.cpu_count()} cores, client in the same process)",
        [
            ("empty RPC (health Check)", f"p50 {empty.p50_ms:.3f} ms, {empty.per_second:,.0f}/s"),
            (
                "Resolve, new customer, 3 ids",
                f"p50 {single.p50_ms:.3f} ms, p99 {single.p99_ms:.3f} ms "
                f"= {single.p50_ms / empty.p50_ms:.1f}x empty RPC",
            ),
            (
                f"BatchResolve {batch_size} x 3 ids",
                f"{per_second:,.0f} identifiers/s, p50 {batch_timing.p50_ms:.0f} ms per batch "
                f"({batches} batches in {elapsed:.1f} s)",
            ),
            (
                "BatchResolve identifiers/s ÷ empty RPCs/s",
                f"{per_second / empty.per_second:.2f}",
            ),
            ("target (issue 3)", "≥ 20,000 identifiers/s on SQLite"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    eventloop.run(run(args.backend, args.batches, args.batch_size))


if __name__ == "__main__":
    main()
