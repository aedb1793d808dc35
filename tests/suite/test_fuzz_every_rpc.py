"""Fuzz every RPC of every service, from the descriptors: no call may end INTERNAL or UNKNOWN.

For each RPC: plausible requests (valid enough to reach the service layer; they also
create the resources whose names later cases reuse), odd well-formed requests, plausible
requests with one field mutated, and raw bytes (random, truncated, bit-flipped, wire
oddities). OK and client-error codes are fine; INTERNAL and UNKNOWN are bugs. Afterwards
every service must still answer its health check SERVING.

Deterministic: RAPPORT_FUZZ_SEED varies the cases, RAPPORT_FUZZ_CASES scales them (per
RPC). A failure lists every offending RPC with the status, its ErrorInfo, the server's
logged exception and a short dump of the request; ``<kind>#<n>`` and the seed name the
case.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import grpc
import pytest
import pytest_asyncio
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from ._contract import Contract, contract
from ._fuzz import Case, Factory, dump
from ._suite import (
    SERVING,
    CallResult,
    ErrorLogCapture,
    LoggedError,
    Suite,
    call,
    capture_error_logs,
    full_method,
    health_status,
    start_suite,
)
from .conftest import ROOT, TOKENS, WORKSPACES

pytestmark = pytest.mark.asyncio(loop_scope="module")

SEED = int(os.environ.get("RAPPORT_FUZZ_SEED", "1"))
CASES = int(os.environ.get("RAPPORT_FUZZ_CASES", "100"))  # per RPC, plus the warm-up
WARM_UP_PASSES = 2
WARM_UP_OK_PER_PASS = 2  # plausible requests per RPC and pass: until this many succeed...
WARM_UP_TRIES_PER_PASS = 8  # ...or this many were tried
FUZZ_ROUNDS = 2
UNARY_TIMEOUT = 10.0
STREAM_TIMEOUT = 0.25
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
# AIP method prefixes that remove resources (their names are then forgotten) or replace
# settings (e.g. a workspace's identity rules): they run after the others, so those meet
# the resources and the settings the warm-up started with.
REMOVING = ("Delete", "Erase", "Unmerge", "Purge")
DISRUPTIVE = (*REMOVING, "Update")
EXAMPLES_PER_RPC = 4


@dataclass
class Finding:
    method: MethodDescriptor
    case: Case
    result: CallResult
    logged: list[LoggedError]

    def cause(self) -> str:
        causes = [r.summary() for r in self.logged if r.exc_text] or [
            r.summary() for r in self.logged
        ]
        return causes[0] if causes else "(nothing logged by the server)"


@dataclass
class FuzzRun:
    findings: list[Finding] = field(default_factory=list)
    # Unary calls that ran out of their (generous) deadline: not client errors either.
    slow: list[tuple[MethodDescriptor, Case, CallResult]] = field(default_factory=list)
    worker_seconds: dict[str, float] = field(default_factory=dict)
    codes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    health: dict[str, int] = field(default_factory=dict)
    other_errors: list[LoggedError] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0


class Fuzzer:
    def __init__(self, suite: Suite, the_contract: Contract, logs: ErrorLogCapture) -> None:
        self.suite = suite
        self.contract = the_contract
        self.logs = logs
        self.factory = Factory(the_contract)
        self.run = FuzzRun()
        # Warm-up requests that succeeded, per RPC: most mutated cases start from one.
        self.corpus: dict[str, list[Message]] = defaultdict(list)

    async def execute(self, method: MethodDescriptor, case: Case, harvest: bool = False) -> bool:
        channel = self.suite.channel(self.contract.owner(method))
        name = full_method(method)
        mark = self.logs.mark()
        result = await call(
            channel,
            method,
            case.request,
            token=ROOT,
            timeout=UNARY_TIMEOUT,
            stream_timeout=STREAM_TIMEOUT,
        )
        self.run.calls += 1
        self.run.codes[name][result.code.name] += 1
        if harvest and result.ok:
            if isinstance(case.request, Message):
                self.corpus[name].append(case.request)
            for response in result.responses:
                self.factory.harvest(response)
            removed = getattr(case.request, "name", None)
            if method.name.startswith(REMOVING) and isinstance(removed, str):
                self.factory.forget(removed)
        if result.code == grpc.StatusCode.DEADLINE_EXCEEDED and not method.server_streaming:
            self.run.slow.append((method, case, result))
        if result.code in BAD_CODES:
            logged = self.logs.since(mark, name)
            if not logged:  # UNKNOWN escapes the mapping: whatever was logged meanwhile
                logged = [r for r in self.logs.since(mark) if r.method is None]
            self.run.findings.append(Finding(method, case, result, logged))
        return result.ok

    def cases(self, method: MethodDescriptor) -> list[Case]:
        """The cases of one RPC, each from its own seeded generator."""
        n_odd = round(CASES * 0.4)
        n_mutated = round(CASES * 0.4)
        n_raw = max(CASES - n_odd - n_mutated, 0)
        out: list[Case] = []
        descriptor = method.input_type
        for kind, count in (("odd", n_odd), ("mutated", n_mutated), ("raw", n_raw)):
            for i in range(count):
                rng = random.Random(f"{SEED}/{method.full_name}/{kind}/{i}")
                if kind == "odd":
                    out.append(Case(kind, i, self.factory.odd_message(rng, descriptor)))
                elif kind == "mutated":
                    corpus = self.corpus[full_method(method)]
                    if corpus and rng.random() < 0.7:
                        base = rng.choice(corpus)
                        origin = "a warm-up request that succeeded"
                    else:
                        base = self.factory.plausible_message(rng, descriptor)
                        origin = "a plausible request"
                    request, note = self.factory.mutate(rng, base)
                    out.append(Case(kind, i, request, f"{note}, from {origin}"))
                else:
                    raw, note = self.factory.raw(rng, descriptor)
                    out.append(Case(kind, i, raw, note))
        return out

    async def warm_up(self) -> None:
        """Plausible requests, service by service in start order: they create resources
        (customers, events, actions, decisions...) whose names later cases reuse."""
        order = list(self.suite.modules)
        methods = sorted(self.contract.methods, key=lambda m: order.index(self.contract.owner(m)))
        plain = [m for m in methods if not m.name.startswith(DISRUPTIVE)]
        disruptive = [m for m in methods if m.name.startswith(DISRUPTIVE)]
        rounds = [plain] * WARM_UP_PASSES + [disruptive]
        for round_, methods in enumerate(rounds):
            if round_:
                await asyncio.sleep(0.3)  # background work (e.g. deduplication jobs) settles
            for method in methods:
                succeeded = 0
                for i in range(WARM_UP_TRIES_PER_PASS):
                    index = round_ * WARM_UP_TRIES_PER_PASS + i
                    rng = random.Random(f"{SEED}/{method.full_name}/plausible/{index}")
                    request = self.factory.plausible_message(rng, method.input_type)
                    case = Case("plausible", index, request)
                    succeeded += await self.execute(method, case, harvest=True)
                    if succeeded >= WARM_UP_OK_PER_PASS:
                        break

    async def fuzz(self) -> None:
        # One sequential worker per service for its unary RPCs (the server's error log
        # is then matched to the call by method name), one per streaming RPC.
        workers: dict[str, list[MethodDescriptor]] = defaultdict(list)
        methods = sorted(self.contract.methods, key=lambda m: m.name.startswith(DISRUPTIVE))
        for method in methods:
            owner = self.contract.owner(method)
            key = f"{owner}/{method.name}" if method.server_streaming else owner
            workers[key].append(method)

        async def work(key: str, methods: list[MethodDescriptor]) -> None:
            # Two rounds over the RPCs: what odd requests created in the first (an action
            # with an odd eligibility rule...) is met by every RPC in the second.
            started = time.monotonic()
            cases = {m.full_name: self.cases(m) for m in methods}
            for round_ in range(FUZZ_ROUNDS):
                for method in methods:
                    for case in cases[method.full_name][round_::FUZZ_ROUNDS]:
                        await self.execute(method, case)
            self.run.worker_seconds[key] = time.monotonic() - started

        await asyncio.gather(*(work(key, methods) for key, methods in workers.items()))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    started = time.monotonic()
    async with (
        capture_error_logs() as logs,
        start_suite(
            tmp_path_factory.mktemp("fuzz"),
            workspaces=WORKSPACES,
            auth_tokens=TOKENS,
            outbound_token=ROOT,
            background=True,
        ) as suite,
    ):
        fuzzer = Fuzzer(suite, contract(), logs)
        await fuzzer.warm_up()
        await fuzzer.fuzz()
        run = fuzzer.run
        for name in suite.servers:
            run.health[name] = await health_status(suite.address(name))
        reported = {id(r) for f in run.findings for r in f.logged}
        run.other_errors = [r for r in logs.records if id(r) not in reported]
    run.seconds = time.monotonic() - started
    print(_summary(run))
    return run


def _summary(run: FuzzRun) -> str:
    lines = [f"fuzz: {run.calls} calls in {run.seconds:.1f}s (seed {SEED}, {CASES} cases per RPC)"]
    for name in sorted(run.codes):
        codes = ", ".join(f"{code} {n}" for code, n in run.codes[name].most_common())
        lines.append(f"  {name}: {codes}")
    workers = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(run.worker_seconds.items()))
    lines.append(f"  workers: {workers}")
    for method, case, result in run.slow:
        lines.append(
            f"  slow: {full_method(method)} {case.kind}#{case.index} {result.describe()}\n"
            f"        request: {dump(case.request, method.input_type, limit=300)}"
        )
    if run.other_errors:
        lines.append(f"  other server errors logged: {len(run.other_errors)}")
        for summary, n in Counter(r.summary() for r in run.other_errors).most_common(10):
            lines.append(f"    {n}x {summary}")
    return "\n".join(lines)


def _describe(finding: Finding) -> str:
    case = finding.case
    note = f" ({case.note})" if case.note else ""
    request = dump(case.request, finding.method.input_type, limit=500)
    return (
        f"    - {case.kind}#{case.index}{note}: {finding.result.describe()}\n"
        f"      server: {finding.cause()}\n"
        f"      request: {request}"
    )


async def test_no_rpc_ends_internal_or_unknown(fuzz_run: FuzzRun):
    if not fuzz_run.findings:
        return
    by_method: dict[str, list[Finding]] = defaultdict(list)
    for finding in fuzz_run.findings:
        by_method[full_method(finding.method)].append(finding)
    lines = [
        f"{len(fuzz_run.findings)} calls on {len(by_method)} RPCs ended INTERNAL or UNKNOWN "
        f"(RAPPORT_FUZZ_SEED={SEED} RAPPORT_FUZZ_CASES={CASES}):"
    ]
    for name in sorted(by_method):
        findings = by_method[name]
        total = sum(fuzz_run.codes[name].values())
        lines.append(f"{name}: {len(findings)} of {total} calls")
        for cause, n in Counter(f.cause() for f in findings).most_common():
            lines.append(f"  {n}x {cause}")
        lines += [_describe(f) for f in findings[:EXAMPLES_PER_RPC]]
    pytest.fail("\n".join(lines), pytrace=False)


async def test_every_service_still_serves_after_the_fuzz(fuzz_run: FuzzRun):
    not_serving = {name: status for name, status in fuzz_run.health.items() if status != SERVING}
    assert fuzz_run.health and not not_serving, f"health after the fuzz: {fuzz_run.health}"


async def test_no_server_error_was_logged_outside_those_calls(fuzz_run: FuzzRun):
    """Background work (dispatcher, trigger runner, deduplication jobs) met the fuzzed data
    too: an error it logged (e.g. 'background task failed') is a bug as well."""
    # E.g. a service failing on a call another service made to it (profile -> identity).
    errors = Counter(
        f"[{r.logger}{' ' + r.method if r.method else ''}] {r.summary()}"
        for r in fuzz_run.other_errors
    )
    assert not errors, "server errors logged during the fuzz, not tied to a call:\n" + "\n".join(
        f"  {n}x {error}" for error, n in errors.most_common()
    )


async def test_every_rpc_was_fuzzed(fuzz_run: FuzzRun):
    """Harness check: each RPC of the contracts got its cases."""
    missing = [
        full_method(m)
        for m in contract().methods
        if sum(fuzz_run.codes[full_method(m)].values()) < CASES
    ]
    assert not missing, f"RPCs not fuzzed: {missing}"
