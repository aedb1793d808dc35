"""Property: every state the service reports equals a reference model over the ledger.

A random sequence of RecordConsent calls (random effective times, some ahead of the
clock, many ties; the record time advances) is replayed against one running server.
After it, CheckConsent at any probe time T equals the reference model's answer, the
batch endpoint agrees, and ListConsentRecords lists every change exactly once. Around
every write, the cached current-state check equals the uncached answer at that moment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.type.v1 import channel_pb2

from .._consent_support import FakeClock, consent_stub, ts

KEYS = [  # (customer index, purpose, channel)
    (0, "marketing", channel_pb2.CHANNEL_EMAIL),
    (0, "marketing", channel_pb2.CHANNEL_SMS),
    (0, "service", channel_pb2.CHANNEL_EMAIL),
    (1, "marketing", channel_pb2.CHANNEL_EMAIL),
]
ADVANCES = [
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=7),
]


@dataclass(frozen=True)
class Step:
    advance: timedelta
    key: int
    granted: bool
    # None: the default (the record time); else minutes from the scenario start, on a
    # coarse grid so that equal effective times are common.
    effective_minute: int | None


steps = st.lists(
    st.builds(
        Step,
        advance=st.sampled_from(ADVANCES),
        key=st.integers(0, len(KEYS) - 1),
        granted=st.booleans(),
        effective_minute=st.none() | st.integers(-30, 40),
    ),
    min_size=1,
    max_size=12,
)


@dataclass(frozen=True)
class LedgerRow:
    key: int
    granted: bool
    effective_time: datetime
    record_time: datetime
    seq: int
    name: str


def reference_at(ledger: list[LedgerRow], key: int, at: datetime) -> tuple[str, str]:
    """(reason, record name) in force at `at`, known at `at`: the simplest possible scan."""
    best: LedgerRow | None = None
    for row in ledger:
        if row.key != key or row.effective_time > at or row.record_time > at:
            continue
        if best is None or (row.effective_time, row.seq) >= (best.effective_time, best.seq):
            best = row
    if best is None:
        return ("NO_RECORD_DEFAULT_DENY", "")
    return ("GRANTED" if best.granted else "DENIED", best.name)


def answer(response: pb.CheckConsentResponse) -> tuple[str, str]:
    assert response.allowed == (response.reason == "GRANTED")
    return (response.reason, response.record.name)


@dataclass
class Harness:
    runner: asyncio.Runner
    stub: pb_grpc.ConsentServiceStub
    clock: FakeClock


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    # One server for all examples (each example uses fresh customers); Hypothesis
    # drives a synchronous test, so the server lives in a runner of its own.
    clock = FakeClock()
    settings_ = ConsentSettings(data_dir=tmp_path_factory.mktemp("consent-property"))
    runner = asyncio.Runner()
    server = consent_stub(settings_, clock)
    stub = runner.run(server.__aenter__())
    try:
        yield Harness(runner, stub, clock)
    finally:
        runner.run(server.__aexit__(None, None, None))
        runner.close()


async def _scenario(harness: Harness, plan: list[Step]) -> None:
    stub, clock = harness.stub, harness.clock
    customers = [f"workspaces/default/customers/{uuid.uuid4().hex}" for _ in range(2)]
    start = clock.now
    ledger: list[LedgerRow] = []

    def request(key: int, at: datetime | None = None) -> pb.CheckConsentRequest:
        customer, purpose, channel = KEYS[key]
        req = pb.CheckConsentRequest(customer=customers[customer], purpose=purpose, channel=channel)
        if at is not None:
            req.check_time.CopyFrom(ts(at))
        return req

    async def cached_and_uncached(key: int) -> None:
        expected = reference_at(ledger, key, clock.now)
        assert answer(await stub.CheckConsent(request(key))) == expected
        assert answer(await stub.CheckConsent(request(key, clock.now))) == expected

    for step in plan:
        clock.advance(microseconds=step.advance / timedelta(microseconds=1))
        await cached_and_uncached(step.key)  # fills the cache before the write
        customer, purpose, channel = KEYS[step.key]
        consent = pb.ConsentRecord(
            purpose=purpose,
            channel=channel,
            state=pb.CONSENT_STATE_GRANTED if step.granted else pb.CONSENT_STATE_DENIED,
            source="property_test",
        )
        effective = clock.now
        if step.effective_minute is not None:
            effective = min(
                start + timedelta(minutes=step.effective_minute), clock.now + timedelta(minutes=5)
            )
            consent.effective_time.CopyFrom(ts(effective))
        stored = await stub.RecordConsent(
            pb.RecordConsentRequest(parent=customers[customer], record=consent)
        )
        assert stored.record_time == ts(clock.now)
        assert stored.effective_time == ts(effective)
        ledger.append(
            LedgerRow(step.key, step.granted, effective, clock.now, len(ledger), stored.name)
        )
        for key in range(len(KEYS)):
            await cached_and_uncached(key)

    # Reconstruct every state at every interesting moment.
    moments = {start - timedelta(hours=1), clock.now, clock.now + timedelta(minutes=10)}
    for row in ledger:
        for t in (row.effective_time, row.record_time):
            moments |= {t - timedelta(microseconds=1), t, t + timedelta(microseconds=1)}
    probes = [(key, at) for at in sorted(moments) for key in range(len(KEYS))]
    for key, at in probes:
        assert answer(await stub.CheckConsent(request(key, at))) == reference_at(ledger, key, at)

    batch = [request(key, at) for key, at in probes] + [request(key) for key in range(len(KEYS))]
    expected = [reference_at(ledger, key, at) for key, at in probes] + [
        reference_at(ledger, key, clock.now) for key in range(len(KEYS))
    ]
    response = await stub.BatchCheckConsent(
        pb.BatchCheckConsentRequest(parent="workspaces/default", requests=batch)
    )
    assert [answer(r) for r in response.responses] == expected

    for index, customer in enumerate(customers):
        listed, token = [], ""
        while True:
            page = await stub.ListConsentRecords(
                pb.ListConsentRecordsRequest(parent=customer, page_size=2, page_token=token)
            )
            listed += [r.name for r in page.consent_records]
            token = page.next_page_token
            if not token:
                break
        mine = [row.name for row in ledger if KEYS[row.key][0] == index]
        assert listed == mine[::-1]  # every change exactly once, newest first


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=steps)
def test_reported_states_equal_the_reference_model(harness: Harness, plan: list[Step]) -> None:
    harness.runner.run(_scenario(harness, plan))
