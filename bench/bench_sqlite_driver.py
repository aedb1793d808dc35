"""SQLite through SQLAlchemy's async engine: statements in the connection's worker
thread, one hop each (the default, rapport.sqlstore._threaded_sqlite) vs statements
run in the loop's own thread (create_engine(..., sqlite_in_loop=True)).

    .venv/bin/python bench/bench_sqlite_driver.py [--statements 3000] [--rounds 3]

Each round runs, on both engines in turn, what a service's units of work do: a
read-only transaction with one indexed SELECT of a row (BEGIN, SELECT, ROLLBACK),
and a writing one that inserts a row and commits (BEGIN IMMEDIATE, INSERT, COMMIT,
through rapport.sqlstore.SqlUnitOfWork). Figures are the process's CPU time (which
the worker thread's share is part of) and wall time per unit of work, best round of
--rounds; the ratio is thread ÷ inline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rapport import eventloop
from rapport.sqlstore import SqlUnitOfWork, create_engine
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", String(100), nullable=False),
)


async def per_unit(work: Callable[[int], Awaitable[None]], count: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per call of work(i)."""
    for i in range(50):
        await work(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        await work(i)
    return (
        (time.process_time() - cpu) / count * 1e6,
        (time.perf_counter() - wall) / count * 1e6,
    )


async def measure(engine: AsyncEngine, count: int) -> dict[str, tuple[float, float]]:
    async def read(i: int) -> None:
        async with SqlUnitOfWork(engine, readonly=True) as uow:
            query = select(notes.c.body).where(notes.c.id == i % 1000 + 1)
            (await uow.connection.execute(query)).scalar_one()

    async def write(i: int) -> None:
        async with SqlUnitOfWork(engine) as uow:
            await uow.connection.execute(insert(notes).values(body=f"note {i}"))
            await uow.commit()

    return {"read (BEGIN, SELECT, ROLLBACK)": await per_unit(read, count),
            "write (BEGIN IMMEDIATE, INSERT, COMMIT)": await per_unit(write, count)}  # fmt: skip


async def prepared(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(notes), [{"body": f"seed {i}"} for i in range(1000)])
    return engine


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        inline = await prepared(
            create_engine(f"sqlite:///{path / 'inline.db'}", sqlite_in_loop=True)
        )
        threaded = await prepared(create_engine(f"sqlite:///{path / 'thread.db'}"))
        best: dict[tuple[str, str], tuple[float, float]] = {}
        for _ in range(args.rounds):
            for label, engine in (("thread", threaded), ("inline", inline)):
                for unit, figures in (await measure(engine, args.statements)).items():
                    key = (label, unit)
                    best[key] = min(best.get(key, figures), figures)
        await inline.dispose()
        await threaded.dispose()
    print(f"\nSQLite unit of work via SQLAlchemy async ({args.statements:,} each, best of "
          f"{args.rounds})")  # fmt: skip
    units = sorted({unit for _, unit in best})
    for unit in units:
        thread_cpu, thread_wall = best[("thread", unit)]
        inline_cpu, inline_wall = best[("inline", unit)]
        print(f"  {unit}")
        print(f"    worker thread     CPU {thread_cpu:7.1f} µs  wall {thread_wall:7.1f} µs")
        print(f"    in the loop       CPU {inline_cpu:7.1f} µs  wall {inline_wall:7.1f} µs")
        print(f"    thread ÷ inline   CPU {thread_cpu / inline_cpu:.2f}×  "
              f"wall {thread_wall / inline_wall:.2f}×")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    eventloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
