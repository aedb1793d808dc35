"""Decisioning: Decide latency (p50/p99) at an offered load and peak throughput, against
the same server's empty RPC measured in the same run.

    .venv/bin/python bench/bench_decide.py [--backend sqlite|postgres] [--rate 1000]
        [--seconds 10] [--customers 2000] [--concurrency 32] [--max-in-flight 256]
        [--lookups grpc|in-process] [--profile /tmp/decide.prof]
        [--profile-cache-seconds 0]

The catalogue: 50 actions in 5 groups (email, SMS or in-app, marketing purpose), 10
engagement policies (CEL eligibility, applicability and suitability rules over the
profile's traits and the context, on groups and actions), two context weights, the
default arbitration; contact limits are switched off (with limits, each decision
also reads and writes the customer's contacts). The active model is the built-in
bandit (features: traits.plan, traits.region, traits.age, context.placement; 64
slots), trained first on 5,000 simulated outcomes. Every Decide asks profile for the
customer's profile and consent for every (purpose, channel) pair left (one batched
call), scores 50 candidates, arbitrates, and stores the decision (one insert).

Profile and consent are gRPC stand-ins (the same kind the tests use: GetProfile and
BatchGetProfiles from a dictionary, BatchCheckConsent granting all) served from a third
process, as the real services would be: the calls' cost on the wire is in the figures,
their storage is not. Concurrent Decides share their profile reads and consent checks
(one BatchGetProfiles, one BatchCheckConsent for what was asked at the same time).
The load comes from a second process (its own event loop), which also measures the
empty RPC (health Check) on the decisioning server. All share the machine's cores.

Open loop at --rate: a request is due every 1/rate seconds whether or not the earlier
ones answered, each latency counted from when it was due; at most --max-in-flight are
pending (a call due beyond that is shed, not sent, and counted). It reports p50/p99 of
the answered calls and the rate achieved. Peak: closed loop with --concurrency calls in
flight for --peak-seconds, for Decide and for the empty RPC. The server's process CPU
per Decide is reported for both (sampled every 50 ms; that process holds only the
server, and the in-process lookups with --lookups in-process).

`--profile-cache-seconds S` sets the service's profile_cache_seconds: Decide then
keeps each profile it read for up to S seconds while it follows profile's signals
(the stand-in's WatchSignals stream stays open and quiet: no profile changes during
the run), so only the first Decide of a customer in each S seconds asks profile.

`--lookups in-process` answers profile and consent inside the server's process (the
stand-in's profile converted per call, all consent granted): the cost of Decide
without the two gRPC hops and the stand-ins' share of the machine, as a cache hit
would be. `--profile PATH` writes a cProfile of the server's process during the load.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).parent))
from grpc_baseline import CpuSampler, empty_rpc_timing, print_table  # noqa: E402
from rapport import eventloop  # noqa: E402
from rapport.consent.v1 import consent_service_pb2 as consent_pb  # noqa: E402
from rapport.consent.v1 import consent_service_pb2_grpc as consent_grpc  # noqa: E402
from rapport.decisioning import bootstrap as decisioning_bootstrap  # noqa: E402
from rapport.decisioning.adapters.profile_answer import customer_profile  # noqa: E402
from rapport.decisioning.bootstrap import build  # noqa: E402
from rapport.decisioning.domain.outbound import CustomerProfile  # noqa: E402
from rapport.decisioning.settings import DecisioningSettings  # noqa: E402
from rapport.decisioning.v1 import decisioning_service_pb2 as pb  # noqa: E402
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as pb_grpc  # noqa: E402
from rapport.grpctesting import serve_fakes, serve_in_process  # noqa: E402
from rapport.profile.v1 import profile_service_pb2 as profile_pb  # noqa: E402
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc  # noqa: E402
from rapport.sqlstore import create_engine  # noqa: E402
from rapport.type.v1 import channel_pb2, message_content_pb2  # noqa: E402
from sqlalchemy import text  # noqa: E402

PARENT = "workspaces/default"
TRAIN_DECISIONS = 1000
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
PLANS = ["basic", "silver", "gold", "platinum"]
REGIONS = ["north", "south", "east", "west"]
PLACEMENTS = ["home", "checkout", "account"]
CHANNELS = [channel_pb2.CHANNEL_EMAIL, channel_pb2.CHANNEL_SMS, channel_pb2.CHANNEL_IN_APP]
# 10 engagement policies: 5 group rules, 5 action rules (each on every 5th action).
GROUP_RULES = [
    ("eligibility", "profile.traits.age >= 18"),
    ("applicability", "context.placement != 'login'"),
    ("suitability", "!('do-not-disturb' in profile.segments)"),
    ("eligibility", "profile.traits.region in ['north', 'south', 'east', 'west']"),
    ("applicability", "context.local_time.hour >= 0"),
]
ACTION_RULES = [
    ("eligibility", "profile.traits.plan != 'closed'"),
    ("suitability", "profile.traits.age < 120"),
    ("applicability", "has(context.placement)"),
    ("eligibility", "size(profile.traits.plan) > 0"),
    ("suitability", "profile.life_stage != 'churned'"),
]


class Profiles(profile_grpc.ProfileServiceServicer):
    def __init__(self, customers: int) -> None:
        pick = random.Random(3)
        self.traits = {
            f"{PARENT}/customers/c{n}": {
                "plan": pick.choice(PLANS),
                "region": pick.choice(REGIONS),
                "age": pick.randint(18, 90),
            }
            for n in range(customers)
        }

    @staticmethod
    def profile(customer: str, traits: dict[str, Any]) -> profile_pb.Profile:
        profile = profile_pb.Profile(name=f"{customer}/profile", customer=customer)
        for key, value in traits.items():
            if isinstance(value, str):
                profile.traits[key].value.string_value = value
            else:
                profile.traits[key].value.number_value = value
        return profile

    async def WatchSignals(self, request, context):  # noqa: N802
        # No profile changes during the bench: the stream stays open with no signal.
        await asyncio.Event().wait()
        yield profile_pb.WatchSignalsResponse()

    async def GetProfile(self, request, context):  # noqa: N802 (gRPC method name)
        customer = request.name.removesuffix("/profile")
        traits = self.traits.get(customer)
        if traits is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such profile")
        return self.profile(customer, traits)

    async def BatchGetProfiles(self, request, context):  # noqa: N802 (gRPC method name)
        customers = [name.removesuffix("/profile") for name in request.names]
        if any(customer not in self.traits for customer in customers):
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such profile")
        return profile_pb.BatchGetProfilesResponse(
            profiles=[self.profile(customer, self.traits[customer]) for customer in customers]
        )


class Consents(consent_grpc.ConsentServiceServicer):
    async def BatchCheckConsent(self, request, context):  # noqa: N802
        return consent_pb.BatchCheckConsentResponse(
            responses=[consent_pb.CheckConsentResponse(allowed=True) for r in request.requests]
        )


class InProcessProfiles:
    """GetProfile answered from memory: the stand-in's profiles converted per call, as a
    cache hit would be (no gRPC hop)."""

    def __init__(self, customers: int) -> None:
        self._profiles = {
            customer: Profiles.profile(customer, traits)
            for customer, traits in Profiles(customers).traits.items()
        }

    async def get_profile(self, customer: str) -> CustomerProfile | None:
        found = self._profiles.get(customer)
        return None if found is None else customer_profile(customer, found)

    async def segment_members(self, segment: str, limit: int) -> list[str]:
        return []

    async def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Any]:
        await asyncio.Event().wait()  # no profile changes during the bench
        yield None


class InProcessConsents:
    async def batch_check(self, workspace: str, queries: list[Any]) -> list[bool]:
        return [True] * len(queries)


def in_process_lookups(customers: int) -> None:
    """Make the service built next answer profile and consent in-process."""
    profiles = InProcessProfiles(customers)
    decisioning_bootstrap.GrpcProfileClient = lambda channel: profiles  # type: ignore[assignment]
    decisioning_bootstrap.GrpcConsentClient = lambda channel: InProcessConsents()  # type: ignore[assignment]


@asynccontextmanager
async def database(backend: str) -> AsyncIterator[dict[str, str | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            yield {"database_url": f"sqlite+aiosqlite:///{tmp}/decisioning.db"}
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


async def configure(stub: pb_grpc.DecisioningServiceStub, customers: list[str]) -> None:
    content = message_content_pb2.MessageContent(subject="Hello", text_body="Hi {{ name }}")
    for g, (kind, rule) in enumerate(GROUP_RULES):
        await stub.CreateActionGroup(
            pb.CreateActionGroupRequest(
                parent=PARENT,
                action_group_id=f"group-{g}",
                action_group=pb.ActionGroup(issue="retention", **{kind: rule}),
            )
        )
    for n in range(50):
        kind, rule = ACTION_RULES[n % 5]
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id=f"action-{n}",
                action=pb.Action(
                    channels=[CHANNELS[n % 3]],
                    purpose="marketing",
                    value=10.0 + n,
                    base_propensity=0.05 + (n % 7) / 100,
                    content=content,
                    group=f"{PARENT}/actionGroups/group-{n % 5}",
                    **{kind: rule},
                ),
            )
        )
    await stub.UpdateDecisionSettings(
        pb.UpdateDecisionSettingsRequest(
            decision_settings=pb.DecisionSettings(
                name=f"{PARENT}/decisionSettings",
                arbitration=pb.ArbitrationSettings(
                    context_weights=[
                        pb.ContextWeight(condition="context.placement == 'home'", weight=1.5),
                        pb.ContextWeight(condition="action.value > 40.0", weight=1.2),
                    ]
                ),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["contact_limits", "arbitration"]),
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
                features=["traits.plan", "traits.region", "traits.age", "context.placement"],
                dimensions=64,
                reward_outcome=pb.OUTCOME_TYPE_CLICK,
            ),
        )
    )
    # Train: decisions with impressions, a click on a third of them.
    pick = random.Random(5)
    for n in range(TRAIN_DECISIONS):
        customer = pick.choice(customers)
        decided = await stub.Decide(request(customer, pick))
        for ranked in decided.actions:
            for kind in (pb.OUTCOME_TYPE_IMPRESSION, pb.OUTCOME_TYPE_CLICK)[: 1 + (n % 3 == 0)]:
                await stub.RecordOutcome(
                    pb.RecordOutcomeRequest(
                        parent=PARENT,
                        outcome=pb.Outcome(
                            decision=decided.decision,
                            customer=customer,
                            action=ranked.action,
                            type=kind,
                        ),
                    )
                )


def request(customer: str, pick: random.Random) -> pb.DecideRequest:
    return pb.DecideRequest(
        parent=PARENT,
        customer=customer,
        max_actions=3,
        placement=pick.choice(PLACEMENTS),
        context=struct_pb2.Struct(),
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def offered_load(
    stub: pb_grpc.DecisioningServiceStub,
    customers: list[str],
    rate: float,
    seconds: float,
    max_in_flight: int,
) -> dict[str, Any]:
    """Open loop: a call due every 1/rate s whether or not earlier ones answered; a call
    due while `max_in_flight` are pending is not sent (counted as shed)."""
    pick = random.Random(11)
    latencies: list[float] = []
    failures = 0
    shed = 0
    pending: set[asyncio.Task[None]] = set()

    async def one(due: float, message: pb.DecideRequest) -> None:
        nonlocal failures
        try:
            await stub.Decide(message, timeout=5)
        except grpc.aio.AioRpcError:
            failures += 1
            return
        latencies.append(time.perf_counter() - due)

    interval = 1 / rate
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        due = start + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        message = request(pick.choice(customers), pick)
        if len(pending) >= max_in_flight:
            shed += 1
            continue
        task = asyncio.create_task(one(due, message))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    ended = time.perf_counter()
    return {
        "latencies": latencies,
        "failures": failures,
        "shed": shed,
        "achieved": len(latencies) / (ended - start),
        "load_window": (start, ended),
    }


async def peak(
    call: Callable[[], Awaitable[object]], concurrency: int, seconds: float
) -> tuple[float, tuple[float, float]]:
    """Calls per second with `concurrency` in flight (closed loop), and when it ran."""
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    ended = time.perf_counter()
    return done / (ended - started), (started, ended)


async def load_from_client(address: str, customers: list[str], args: dict) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.DecisioningServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        pick = random.Random(7)
        for customer in customers[:300]:  # warm-up
            await stub.Decide(request(customer, pick))
        empty = await empty_rpc_timing(channel)
        load = await offered_load(
            stub, customers, args["rate"], args["seconds"], args["max_in_flight"]
        )
        empty_peak, _ = await peak(
            lambda: health.Check(health_pb2.HealthCheckRequest()),
            args["concurrency"],
            args["peak_seconds"],
        )
        decide_peak, peak_window = await peak(
            lambda: stub.Decide(request(pick.choice(customers), pick)),
            args["concurrency"],
            args["peak_seconds"],
        )
    return {
        "empty_p50": empty.p50_ms,
        "empty_rate": empty.per_second,
        **load,
        "empty_peak": empty_peak,
        "decide_peak": decide_peak,
        "peak_window": peak_window,
    }


def client_main(address: str, customers: list[str], args: dict) -> dict:
    return eventloop.run(load_from_client(address, customers, args))


async def serve_stand_ins(customers: int, ready: Any, stop: Any) -> None:
    profiles = Profiles(customers)
    async with serve_fakes(
        lambda s: profile_grpc.add_ProfileServiceServicer_to_server(profiles, s),
        lambda s: consent_grpc.add_ConsentServiceServicer_to_server(Consents(), s),
    ) as address:
        ready.put(address)
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)


def stand_ins_main(customers: int, ready: Any, stop: Any) -> None:
    eventloop.run(serve_stand_ins(customers, ready, stop))


@asynccontextmanager
async def stand_ins(customers: int) -> AsyncIterator[str]:
    """Profile and consent stand-ins in their own process; yields their address."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    process = context.Process(target=stand_ins_main, args=(customers, ready, stop))
    process.start()
    try:
        yield await asyncio.get_running_loop().run_in_executor(None, ready.get, True, 60)
    finally:
        stop.set()
        process.join(10)


async def run(args: argparse.Namespace) -> None:
    customers = list(Profiles(args.customers).traits)
    async with stand_ins(args.customers) as fakes, database(args.backend) as db:
        settings = DecisioningSettings(
            log_level="WARNING",
            profile_address=fakes,
            consent_address=fakes,
            delivery_address=fakes,
            triggers_enabled=False,
            profile_cache_seconds=args.profile_cache_seconds,
            **db,
        )
        if args.lookups == "in-process":
            in_process_lookups(args.customers)
        async with serve_in_process(build, settings) as server:
            async with grpc.aio.insecure_channel(server.address) as channel:
                await configure(pb_grpc.DecisioningServiceStub(channel), customers)
            loop = asyncio.get_running_loop()
            options = {
                "rate": args.rate,
                "seconds": args.seconds,
                "concurrency": args.concurrency,
                "peak_seconds": args.peak_seconds,
                "max_in_flight": args.max_in_flight,
            }
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            with (
                ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
                CpuSampler() as sampler,
            ):
                result = await loop.run_in_executor(
                    pool, client_main, server.address, customers, options
                )
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
    latencies = result["latencies"] or [float("nan")]
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    at_load = sampler.per_call(result["load_window"], result["achieved"], "Decide")
    at_peak = sampler.per_call(result["peak_window"], result["decide_peak"], "Decide")
    lookups = (
        "profile and consent answered in-process (no gRPC hop)"
        if args.lookups == "in-process"
        else "profile and consent gRPC stand-ins in a third process"
    )
    print_table(
        f"decisioning Decide on {args.backend} ({os.cpu_count()} cores shared by the server, "
        f"the load client and {lookups})",
        [
            (
                "empty RPC (health Check)",
                f"p50 {result['empty_p50']:.3f} ms, {result['empty_rate']:,.0f}/s sequential, "
                f"peak {result['empty_peak']:,.0f}/s at {args.concurrency} in flight",
            ),
            (
                f"Decide at {args.rate:,.0f}/s offered",
                f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean "
                f"{statistics.fmean(latencies) * 1000:.3f} ms ({len(latencies):,} answered, "
                f"{result['failures']} failed, {result['shed']:,} shed at "
                f"{args.max_in_flight} in flight); achieved {result['achieved']:,.0f}/s",
            ),
            ("Decide peak", f"{result['decide_peak']:,.0f}/s at {args.concurrency} in flight"),
            (
                "server process CPU",
                f"at {args.rate:,.0f}/s offered: {at_load}; at peak: {at_peak}",
            ),
            ("Decide peak ÷ empty RPC peak", f"{result['decide_peak'] / result['empty_peak']:.1%}"),
            ("targets (issue 9)", "p99 ≤ 5 ms at 1,000/s; peak ≥ 50% of the empty RPC's"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--peak-seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        help="open loop: calls due while this many are pending are shed (not sent)",
    )
    parser.add_argument(
        "--lookups",
        choices=["grpc", "in-process"],
        default="grpc",
        help="profile and consent over gRPC (stand-ins in another process) or answered "
        "in the server's process (what a cache hit would cost)",
    )
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the server's load phase into PATH"
    )
    parser.add_argument(
        "--profile-cache-seconds",
        type=float,
        default=0.0,
        help="the service's profile_cache_seconds: Decide keeps profiles this long while "
        "following profile's signals (0, the default setting: GetProfile on every Decide)",
    )
    eventloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
