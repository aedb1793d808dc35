"""Decisioning: the closed loop's consumer. Delivery's status events, followed from
profile's signal stream, recorded as outcomes of the decisions that sent the messages:
outcomes per second and the server's CPU per outcome, against the same server's empty
RPC measured in the same run.

    .venv/bin/python bench/bench_decisioning_outcomes.py [--backend sqlite|postgres]
        [--messages 3000] [--customers 1000] [--peak-seconds 4] [--profile PATH]

Set-up: 5 email actions, the built-in bandit active (rewarded by CLICK, so every first
exposure and click adds an observation and a model contribution), one Decide per
message (the decision that logged the features), and the link from each message to
its decision (sent_messages, as a trigger's send stores it). Then profile's stand-in
(its own process) streams, as fast as the server reads them, every message's
`Email Sent`, `Email Delivered`, `Email Opened` and, for a third of them, `Email
Clicked` (properties: message and channel, as delivery sends them): about 3.3
outcomes per message, each a new one. The trigger runner follows the stream (the
default path: no NATS), attributes each event and stores its cursor.

Figures: outcomes/s from the stream's start until the last outcome is stored (the
bench polls the outcome count from its own connection every 50 ms), the server
process's CPU per outcome over that time (the process holds only the server and that
poll), and the empty RPC (health Check, closed loop with 32 in flight from another
process) with the server's CPU per call: the ratio is CPU per outcome / CPU per
empty RPC. `--profile PATH` writes a cProfile of the server's process during the
stream.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import sys
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).parent))
from bench_decide import Consents, Profiles, database, peak  # noqa: E402
from grpc_baseline import CpuSampler, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc  # noqa: E402
from rapport.decisioning.adapters import tables  # noqa: E402
from rapport.decisioning.bootstrap import build  # noqa: E402
from rapport.decisioning.settings import DecisioningSettings  # noqa: E402
from rapport.decisioning.v1 import decisioning_service_pb2 as pb  # noqa: E402
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.grpctesting import serve_fakes, serve_in_process  # noqa: E402
from rapport.profile.v1 import profile_service_pb2 as profile_pb  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc  # noqa: E402
from rapport.sqlstore import create_engine  # noqa: E402
from rapport.type.v1 import channel_pb2, message_content_pb2  # noqa: E402

PARENT = "workspaces/default"
STATUSES = ("Sent", "Delivered", "Opened")


def message_name(n: int) -> str:
    return f"{PARENT}/messages/m{n}"


def customer_of(n: int, customers: list[str]) -> str:
    return customers[n % len(customers)]


def status_signals(messages: int, customers: list[str]) -> list[profile_pb.Signal]:
    """Every message's status events, in the order delivery would report them (all the
    sends first, then deliveries, opens, clicks), each its own signal."""
    signals = []
    for status in (*STATUSES, "Clicked"):
        for n in range(messages):
            if status == "Clicked" and n % 3:
                continue
            customer = customer_of(n, customers)
            event = profile_pb.Event(
                type=profile_pb.EVENT_TYPE_TRACK,
                message_id=f"status-{n}-{status}",
                event=f"Email {status}",
                customer=customer,
            )
            event.properties.update({"message": message_name(n), "channel": "EMAIL"})
            event.event_time.GetCurrentTime()
            event.receive_time.CopyFrom(event.event_time)
            signals.append(
                profile_pb.Signal(
                    cursor=f"c{len(signals) + 1:08d}",
                    kind=profile_pb.SIGNAL_KIND_EVENT_SEEN,
                    customer=customer,
                    event_seen=profile_pb.EventSeen(event=event),
                )
            )
    return signals


class StreamingProfiles(Profiles):
    """Profiles for Decide; WatchSignals streams the status events once `go` is set."""

    def __init__(self, customers: int, messages: int, go: Any) -> None:
        super().__init__(customers)
        self._signals = status_signals(messages, list(self.traits))
        self._go = go

    async def WatchSignals(self, request, context):  # noqa: N802 (gRPC method name)
        await asyncio.get_running_loop().run_in_executor(None, self._go.wait)
        cursors = {s.cursor: i for i, s in enumerate(self._signals)}
        start = cursors[request.start_cursor] + 1 if request.start_cursor else 0
        for signal in self._signals[start:]:
            yield profile_pb.WatchSignalsResponse(signal=signal)
        await asyncio.Event().wait()  # then quiet, as a live stream


async def serve_stand_ins(customers: int, messages: int, ready: Any, go: Any, stop: Any) -> None:
    profiles = StreamingProfiles(customers, messages, go)
    async with serve_fakes(
        lambda s: profile_grpc.add_ProfileServiceServicer_to_server(profiles, s),
        lambda s: consent_grpc.add_ConsentServiceServicer_to_server(Consents(), s),
    ) as address:
        ready.put(address)
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)


def stand_ins_main(customers: int, messages: int, ready: Any, go: Any, stop: Any) -> None:
    eventloop.run(serve_stand_ins(customers, messages, ready, go, stop))


@asynccontextmanager
async def stand_ins(customers: int, messages: int) -> AsyncIterator[tuple[str, Any]]:
    """Profile and consent stand-ins in their own process: (address, go event)."""
    context = multiprocessing.get_context("spawn")
    ready, go, stop = context.Queue(), context.Event(), context.Event()
    process = context.Process(target=stand_ins_main, args=(customers, messages, ready, go, stop))
    process.start()
    try:
        address = await asyncio.get_running_loop().run_in_executor(None, ready.get, True, 60)
        yield address, go
    finally:
        go.set()
        stop.set()
        process.join(10)


async def configure(stub: pb_grpc.DecisioningServiceStub) -> None:
    content = message_content_pb2.MessageContent(subject="Hello", text_body="Hi")
    for n in range(5):
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id=f"action-{n}",
                action=pb.Action(
                    channels=[channel_pb2.CHANNEL_EMAIL],
                    purpose="marketing",
                    value=10.0 + n,
                    content=content,
                ),
            )
        )
    # Several decisions per customer: contact limits off.
    await stub.UpdateDecisionSettings(
        pb.UpdateDecisionSettingsRequest(
            decision_settings=pb.DecisionSettings(name=f"{PARENT}/decisionSettings"),
            update_mask=field_mask_pb2.FieldMask(paths=["contact_limits"]),
        )
    )
    await stub.PublishDecisionConfig(pb.PublishDecisionConfigRequest(parent=PARENT))
    await stub.CreateModel(
        pb.CreateModelRequest(
            parent=PARENT,
            model_id="nba",
            model=pb.Model(
                kind=pb.MODEL_KIND_BANDIT,
                mode=pb.MODEL_MODE_ACTIVE,
                features=["traits.plan", "traits.region", "traits.age"],
                dimensions=64,
                reward_outcome=pb.OUTCOME_TYPE_CLICK,
            ),
        )
    )


async def decide_and_link(
    stub: pb_grpc.DecisioningServiceStub, db: dict[str, Any], customers: list[str], messages: int
) -> None:
    """One decision per message, and the message's link to it (as a trigger stores it)."""
    rows = []
    now = datetime.now(UTC)
    for n in range(messages):
        customer = customer_of(n, customers)
        decided = await stub.Decide(
            pb.DecideRequest(parent=PARENT, customer=customer, max_actions=1)
        )
        rows.append(
            {
                "workspace": "default",
                "message": message_name(n),
                "decision_id": decided.decision.rsplit("/", 1)[1],
                "customer": customer,
                "action": decided.actions[0].action,
                "channel": "email",
                "create_time": now,
            }
        )
    engine = create_engine(db["database_url"], schema=db.get("database_schema"))
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.sent_messages.insert(), rows)
    finally:
        await engine.dispose()


async def outcome_count(conn: Any) -> int:
    return int(await conn.scalar(sa.select(sa.func.count()).select_from(tables.outcomes)))


async def empty_rpc_load(address: str, seconds: float) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        for _ in range(200):  # warm-up
            await health.Check(request)
        rate, window = await peak(lambda: health.Check(request), 32, seconds)
    return {"rate": rate, "window": window}


def client_main(address: str, seconds: float) -> dict[str, Any]:
    return eventloop.run(empty_rpc_load(address, seconds))


async def run(args: argparse.Namespace) -> None:
    customers = list(Profiles(args.customers).traits)
    expected = len(status_signals(args.messages, customers))
    async with (
        stand_ins(args.customers, args.messages) as (fakes, go),
        database(args.backend) as db,
    ):
        settings = DecisioningSettings(
            log_level="WARNING",
            profile_address=fakes,
            consent_address=fakes,
            delivery_address=fakes,
            triggers_enabled=True,
            **db,
        )
        async with serve_in_process(build, settings) as server:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = pb_grpc.DecisioningServiceStub(channel)
                await configure(stub)
                await decide_and_link(stub, db, customers, args.messages)
            engine = create_engine(db["database_url"], schema=db.get("database_schema"))
            profiler = cProfile.Profile() if args.profile else None
            try:
                async with engine.connect() as conn:
                    cpu, wall = time.process_time(), time.perf_counter()
                    if profiler is not None:
                        profiler.enable()
                    go.set()
                    recorded = 0
                    while recorded < expected and time.perf_counter() - wall < args.timeout:
                        await asyncio.sleep(0.05)
                        recorded = await outcome_count(conn)
                        await conn.rollback()  # a fresh snapshot for the next poll
                    if profiler is not None:
                        profiler.disable()
                        profiler.dump_stats(args.profile)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            finally:
                await engine.dispose()
            with (
                ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
                CpuSampler() as sampler,
            ):
                empty = await asyncio.get_running_loop().run_in_executor(
                    pool, client_main, server.address, args.peak_seconds
                )
    if recorded != expected:
        raise SystemExit(f"only {recorded:,} of {expected:,} outcomes after {args.timeout:.0f}s")
    per_outcome = cpu / recorded * 1e6
    inside = [s for s in sampler.samples if empty["window"][0] <= s[0] <= empty["window"][1]]
    empty_cpu = (inside[-1][1] - inside[0][1]) / ((inside[-1][0] - inside[0][0]) * empty["rate"])
    print_table(
        f"decisioning outcomes from the signal stream on {args.backend} "
        f"({os.cpu_count()} cores shared by the server and the stand-ins)",
        [
            ("status events -> outcomes", f"{recorded:,} ({args.messages:,} messages)"),
            ("outcomes/s", f"{recorded / wall:,.0f} ({wall:.2f} s)"),
            (
                "server CPU per outcome",
                f"{per_outcome:,.0f} µs ({cpu / wall:.0%} of a core)",
            ),
            (
                "empty RPC (health Check)",
                f"{empty['rate']:,.0f}/s at 32 in flight, server CPU {empty_cpu * 1e6:,.0f} µs",
            ),
            ("CPU per outcome ÷ per empty RPC", f"{per_outcome / (empty_cpu * 1e6):.1f}x"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--peak-seconds", type=float, default=4)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the server's process during the stream"
    )
    eventloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
