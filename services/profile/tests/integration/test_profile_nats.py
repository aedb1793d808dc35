"""Signals on NATS JetStream (real server, CI=true): with nats_url set, profile relays
its signal log to JetStream, and two decisioning-style replicas on one durable
consumer see every signal exactly once between them, each customer's in log order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
import pytest
from rapport.eventbus import ConsumerSpec, Delivery, DurableConsumer, LogSubjects, NatsBus
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as pb

PARENT = "workspaces/default"
CUSTOMERS = 6
EVENTS = 150


@asynccontextmanager
async def running(*jobs: Any) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(job()) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def subjects(nats_url: str) -> AsyncIterator[LogSubjects]:
    """The signal log's subjects under a prefix of this test's own; its stream deleted after."""
    subjects = LogSubjects("profile", "signals", prefix=f"t{uuid.uuid4().hex[:12]}", partitions=4)
    yield subjects
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().delete_stream(subjects.stream)
    except Exception:  # never created: nothing to delete
        pass
    finally:
        await client.close()


async def test_two_consumers_on_one_durable_see_every_signal_once_in_customer_order(
    profile_server: Any, event_factory: Any, nats_url: str, subjects: LogSubjects
) -> None:
    settings = {
        "nats_url": nats_url,
        "nats_subject_prefix": subjects.prefix,
        "nats_partitions": subjects.partitions,
        "signal_relay_poll_seconds": 0.2,
    }
    handled: list[tuple[str, int, str, str]] = []  # (replica, cursor, customer, message id)

    def handler(replica: str) -> Any:
        async def handle(delivery: Delivery) -> None:
            signal = pb.Signal.FromString(delivery.data)
            assert delivery.cursor == int(signal.cursor)
            await asyncio.sleep(0.002)
            handled.append(
                (replica, int(signal.cursor), signal.customer, signal.event_seen.event.message_id)
            )

        return handle

    buses = [NatsBus(nats_url, name=f"decisioning-{n}", reconnect_seconds=0.1) for n in (1, 2)]
    spec = ConsumerSpec("decisioning-triggers", fetch_seconds=0.5, retry_delays=(0.05,))
    a = DurableConsumer(buses[0], subjects, spec, handler("a"))
    b = DurableConsumer(buses[1], subjects, spec, handler("b"))
    try:
        async with profile_server(**settings) as (stub, _running), running(a.run, b.run):
            sent: list[str] = []
            for start in range(0, EVENTS, 25):
                batch = [
                    event_factory(f"n-{n}", user_id=f"c{n % CUSTOMERS}", event="Viewed")
                    for n in range(start, start + 25)
                ]
                sent += [e.message_id for e in batch]
                answer = await stub.IngestEvents(
                    pb.IngestEventsRequest(parent=PARENT, events=batch)
                )
                assert all(r.status == pb.INGEST_STATUS_ACCEPTED for r in answer.results)
            await eventually(lambda: len(handled) >= EVENTS, timeout=30)
            await asyncio.sleep(0.5)  # room for a duplicate to show up
    finally:
        for bus in buses:
            await bus.close()

    cursors = [cursor for _, cursor, _, _ in handled]
    assert sorted(cursors) == sorted(set(cursors)) and len(cursors) == EVENTS  # each once
    assert sorted(m for _, _, _, m in handled) == sorted(sent)
    by_customer: dict[str, list[int]] = {}
    for _, cursor, customer, _ in handled:
        by_customer.setdefault(customer, []).append(cursor)
    assert len(by_customer) == CUSTOMERS
    for customer, seen in by_customer.items():
        assert seen == sorted(seen), customer  # each customer's signals in log order
    print("handled by replica:", {r: sum(1 for h in handled if h[0] == r) for r in "ab"})
