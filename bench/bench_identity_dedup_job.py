"""Identity: a deduplication job end to end through the gRPC API (seed, train, score, merge).

    .venv/bin/python bench/bench_identity_dedup_job.py [--size 50000] [--backend sqlite|postgres]

Seeds the generated people of bench_identity_matching (20 % duplicates, each under its own
email) with BatchResolve, runs CreateDeduplicationJob and polls it to the end. Prints the
job's wall time split into the engine's share (the same engine timed alone on the same
records in this run) and the rest (loading records, merges, reviews), and how many of the
known duplicates ended up merged.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from bench_identity_matching import generated  # noqa: E402
from grpc_baseline import print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.grpctesting import serve_in_process  # noqa: E402
from rapport.identity.bootstrap import build  # noqa: E402
from rapport.identity.matching import ATTRIBUTES, MatchModel  # noqa: E402
from rapport.identity.settings import IdentitySettings  # noqa: E402
from rapport.identity.v1 import identity_service_pb2 as pb  # noqa: E402
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.sqlstore import create_engine  # noqa: E402
from rapport.type.v1 import identifier_pb2  # noqa: E402

PARENT = "workspaces/default"


def _valid_date(value: str) -> str:
    """The generator's typos can make impossible dates, which Resolve refuses: drop them."""
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return ""
    return value


async def seed(stub: pb_grpc.IdentityServiceStub, data) -> list[str]:
    names: list[str] = []
    values = [data.columns[a].tolist() for a in ATTRIBUTES]
    rows = list(zip(*values, strict=True))
    for start in range(0, len(rows), 1000):
        requests = [
            pb.ResolveRequest(
                identifiers=[
                    identifier_pb2.Identifier(type="email", value=f"p{start + k}@bench.example")
                ],
                attributes=pb.PersonAttributes(
                    **{
                        **dict(zip(ATTRIBUTES, row, strict=True)),
                        "birth_date": _valid_date(row[ATTRIBUTES.index("birth_date")]),
                    }
                ),
            )
            for k, row in enumerate(rows[start : start + 1000])
        ]
        reply = await stub.BatchResolve(pb.BatchResolveRequest(parent=PARENT, requests=requests))
        names += [r.customer.name for r in reply.responses]
    return names


async def run(size: int, backend: str) -> None:
    data = generated(size, seed=11)
    started = time.perf_counter()
    model = MatchModel.train(data.records())
    model.deduplicate(data.records(), min_probability=0.8)
    engine_seconds = time.perf_counter() - started

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
                    stub = pb_grpc.IdentityServiceStub(channel)
                    seeded = time.perf_counter()
                    names = await seed(stub, data)
                    seed_seconds = time.perf_counter() - seeded
                    job_started = time.perf_counter()
                    job = await stub.CreateDeduplicationJob(
                        pb.CreateDeduplicationJobRequest(parent=PARENT)
                    )
                    while job.state in (pb.JOB_STATE_PENDING, pb.JOB_STATE_RUNNING):
                        await asyncio.sleep(0.5)
                        job = await stub.GetDeduplicationJob(
                            pb.GetDeduplicationJobRequest(name=job.name)
                        )
                    job_seconds = time.perf_counter() - job_started
                    merged_truth = await merged_true_pairs(stub, names, data)
        finally:
            if schema:
                engine = create_engine(url)
                async with engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                await engine.dispose()

    print_table(
        f"deduplication job, {size:,} customers on {backend} ({os.cpu_count()} cores)",
        [
            ("seed (BatchResolve with attributes)", f"{seed_seconds:.1f} s"),
            ("job state", pb.JobState.Name(job.state) + (f" ({job.error})" if job.error else "")),
            ("job wall time", f"{job_seconds:.1f} s"),
            ("engine alone (train + deduplicate)", f"{engine_seconds:.1f} s"),
            ("job time ÷ engine time", f"{job_seconds / engine_seconds:.1f}"),
            ("candidate pairs", f"{job.candidate_pair_count:,}"),
            ("merged / queued for review", f"{job.merged_count:,} / {job.review_count:,}"),
            ("known duplicate pairs now one customer", f"{merged_truth:.1%}"),
            ("target (issue 3)", "1M-record deduplication in under 2 minutes"),
        ],
    )


async def merged_true_pairs(stub, names: list[str], data) -> float:
    n = data.size
    truth = data.truth
    sample = truth[:: max(1, len(truth) // 500)]
    same = 0
    for packed in sample:
        i, j = divmod(int(packed), n)
        a = await stub.GetCustomer(pb.GetCustomerRequest(name=names[i]))
        b = await stub.GetCustomer(pb.GetCustomerRequest(name=names[j]))
        same += a.name == b.name
    return same / max(1, len(sample))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    eventloop.run(run(args.size, args.backend))


if __name__ == "__main__":
    main()
