"""The event loop a Rapport process runs on: uvloop by default, asyncio's own on request.

Most of a cheap call's server CPU is the loop's and gRPC's per-call work, not the
service's. uvloop (libuv underneath) wakes up and schedules for less: about 10% less
server CPU per gRPC call, and per SQLite unit of work through aiosqlite's thread
(bench/bench_grpc_overhead.py, bench/bench_sqlite_driver.py). ``asyncio`` stays
selectable (``EVENT_LOOP=asyncio``) to rule the loop out when chasing a problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EventLoopName", "loop_factory", "run"]

EventLoopName = Literal["uvloop", "asyncio"]

T = TypeVar("T")


def loop_factory(name: EventLoopName = "uvloop") -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of that name."""
    if name == "uvloop":
        import uvloop  # imported when chosen: nothing is set up at import time

        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"unknown event loop {name!r}: uvloop or asyncio")


def run(main: Coroutine[Any, Any, T], name: EventLoopName = "uvloop") -> T:
    """``asyncio.run(main)`` on a loop of that name (a fresh one, closed afterwards)."""
    try:
        factory = loop_factory(name)
    except ValueError:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
