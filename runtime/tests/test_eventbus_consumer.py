"""DurableConsumer against a real NATS server: replicas split the work, a killed
replica's messages go to the others, poison messages are terminated and reported,
ordered consumers keep each customer's order."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

from rapport.eventbus import (
    Delivery,
    DurableConsumer,
    NatsBus,
    PermanentFailure,
    Terminated,
)
from rapport.grpctesting import eventually

from ._eventbus_support import TcpProxy, publish, quick, running


async def test_two_replicas_on_one_durable_consumer_handle_each_message_once(
    buses, log_subjects, event_log
) -> None:
    await event_log.append(200, customers=10)
    await publish(buses[0], log_subjects, event_log, 200)
    handled: dict[str, list[int]] = {"a": [], "b": []}
    holding = {"a": asyncio.Event(), "b": asyncio.Event()}

    def handler(replica: str, other: str):
        async def handle(delivery: Delivery) -> None:
            # Each replica holds its messages until the other has one too: whichever
            # starts first, it cannot take all 200 before the other's first fetch.
            holding[replica].set()
            await holding[other].wait()
            await asyncio.sleep(0.001)
            handled[replica].append(delivery.cursor)

        return handle

    spec = quick("workers", ordered=False, concurrency=2)
    a = DurableConsumer(buses[1], log_subjects, spec, handler("a", "b"))
    b = DurableConsumer(buses[2], log_subjects, spec, handler("b", "a"))
    async with running(a.run, b.run):
        await eventually(lambda: len(handled["a"]) + len(handled["b"]) >= 200, timeout=20)
        await asyncio.sleep(0.5)  # room for a duplicate to show up
    everything = handled["a"] + handled["b"]
    assert sorted(everything) == list(range(1, 201))  # each exactly once
    assert handled["a"] and handled["b"]  # both pulled from the one durable consumer
    assert a.stats.handled + b.stats.handled == 200


async def test_a_killed_replica_s_unacknowledged_messages_go_to_the_other(
    nats_url, buses, log_subjects, event_log
) -> None:
    await event_log.append(60)
    await publish(buses[0], log_subjects, event_log, 60)
    done: dict[str, list[int]] = {"a": [], "b": []}
    held: list[int] = []
    attempts: dict[int, int] = {}

    async def dies_mid_way(delivery: Delivery) -> None:
        if len(done["a"]) < 10:
            done["a"].append(delivery.cursor)
            return
        held.append(delivery.cursor)
        await asyncio.Event().wait()  # stuck: the replica is about to die

    async def healthy(delivery: Delivery) -> None:
        attempts[delivery.cursor] = delivery.attempt
        done["b"].append(delivery.cursor)

    proxy = TcpProxy(nats_url)
    await proxy.start()
    dying_bus = NatsBus(proxy.url, name="dying", reconnect_seconds=0.1)
    spec = quick("split", ordered=False, concurrency=3, ack_wait_seconds=1.0)
    a = DurableConsumer(dying_bus, log_subjects, spec, dies_mid_way)
    try:
        async with running(a.run):
            await eventually(lambda: len(held) == 3)
            await proxy.cut()  # the replica is gone: no ack, no nak reaches the server
        await dying_bus.close()
        b = DurableConsumer(buses[1], log_subjects, spec, healthy)
        async with running(b.run):
            await eventually(lambda: len(done["b"]) >= 50, timeout=15)
            await asyncio.sleep(0.5)
    finally:
        await proxy.cut()
    assert sorted(done["a"] + done["b"]) == list(range(1, 61))
    assert set(held) <= set(done["b"])
    assert all(attempts[cursor] >= 2 for cursor in held)  # redelivered after ack_wait


async def test_a_stopping_replica_hands_its_message_over_at_once(
    buses, log_subjects, event_log
) -> None:
    await event_log.append(1)
    await publish(buses[0], log_subjects, event_log, 1)
    started, handled = asyncio.Event(), []

    async def slow(delivery: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    async def fast(delivery: Delivery) -> None:
        handled.append(delivery.cursor)

    spec = quick("handover", ordered=False, concurrency=1, ack_wait_seconds=30.0)
    async with running(DurableConsumer(buses[1], log_subjects, spec, slow).run):
        await eventually(started.is_set)
    # Well before the 30 s ack_wait: the stopping replica nak'ed it.
    async with running(DurableConsumer(buses[2], log_subjects, spec, fast).run):
        await eventually(lambda: handled == [1], timeout=5)


async def test_a_poison_message_is_terminated_and_reported_and_the_others_flow(
    buses, log_subjects, event_log
) -> None:
    bodies = {5: "bad", 9: "flaky"}
    await event_log.append(30, customers=2, body=lambda n: bodies.get(n, str(n)))
    await publish(buses[0], log_subjects, event_log, 30)
    handled: list[int] = []
    flaky_attempts: list[int] = []
    reports: list[Terminated] = []

    async def handle(delivery: Delivery) -> None:
        if delivery.data == b"bad":
            raise PermanentFailure("UNREADABLE")
        if delivery.data == b"flaky":
            flaky_attempts.append(delivery.attempt)
            raise RuntimeError("downstream keeps failing")
        handled.append(delivery.cursor)

    consumer = DurableConsumer(
        buses[1], log_subjects, quick("poison", max_deliver=3), handle, on_terminated=reports.append
    )
    async with running(consumer.run):
        await eventually(lambda: len(handled) == 28 and len(reports) == 2, timeout=15)
    assert sorted(handled) == [n for n in range(1, 31) if n not in bodies]
    by_cursor = {report.delivery.cursor: report for report in reports if report.delivery}
    assert by_cursor[5].reason == "PERMANENT:UNREADABLE" and by_cursor[5].delivery.attempt == 1
    assert by_cursor[9].reason == "MAX_DELIVERIES:RuntimeError"
    assert flaky_attempts == [1, 2, 3]
    assert consumer.stats.retried == 2 and consumer.stats.terminated == 2


async def test_a_message_whose_replicas_died_max_deliver_times_is_reported(
    nats_url, buses, log_subjects, event_log
) -> None:
    await event_log.append(1)
    await publish(buses[0], log_subjects, event_log, 1)
    proxy = TcpProxy(nats_url)
    await proxy.start()
    dying_bus = NatsBus(proxy.url, name="dies", reconnect_seconds=0.1)
    started, reports = asyncio.Event(), []

    async def hangs(delivery: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    async def unused(delivery: Delivery) -> None:
        raise AssertionError("never delivered again")

    spec = quick("unfinished", ordered=False, concurrency=1, max_deliver=1, ack_wait_seconds=0.5)
    watcher = DurableConsumer(buses[1], log_subjects, spec, unused, on_terminated=reports.append)
    try:
        async with running(DurableConsumer(dying_bus, log_subjects, spec, hangs).run):
            await eventually(started.is_set)
            async with running(watcher.run):
                await asyncio.sleep(0.3)  # the watcher's advisory subscription is in place
                await proxy.cut()  # the only replica that had the message dies
                await eventually(lambda: reports, timeout=10)
    finally:
        await proxy.cut()
        await dying_bus.close()
    assert [(r.reason, r.stream_sequence) for r in reports] == [("MAX_DELIVERIES:UNFINISHED", 1)]


async def test_an_ordered_consumer_keeps_each_customer_s_order_across_replicas_and_retries(
    buses, log_subjects, event_log
) -> None:
    await event_log.append(160, customers=8)
    await publish(buses[0], log_subjects, event_log, 160)
    order: dict[str, list[int]] = defaultdict(list)
    in_flight: Counter[int] = Counter()
    most_in_flight: Counter[int] = Counter()
    by_replica: Counter[str] = Counter()

    def handler(replica: str):
        async def handle(delivery: Delivery) -> None:
            in_flight[delivery.partition] += 1
            most_in_flight[delivery.partition] = max(
                most_in_flight[delivery.partition], in_flight[delivery.partition]
            )
            try:
                await asyncio.sleep(random.uniform(0, 0.003))
                if delivery.cursor % 7 == 0 and delivery.attempt == 1:
                    raise RuntimeError("transient")  # retried after later messages arrived
                order[f"c{delivery.cursor % 8}"].append(delivery.cursor)
                by_replica[replica] += 1
            finally:
                in_flight[delivery.partition] -= 1

        return handle

    spec = quick("ordered")
    a = DurableConsumer(buses[1], log_subjects, spec, handler("a"))
    b = DurableConsumer(buses[2], log_subjects, spec, handler("b"))
    async with running(a.run, b.run):
        await eventually(lambda: sum(by_replica.values()) >= 160, timeout=30)
    for customer, cursors in order.items():
        expected = [n for n in range(1, 161) if f"c{n % 8}" == customer]
        assert cursors == expected, customer  # complete, in event_log order, once each
    assert max(most_in_flight.values()) == 1  # one message at a time per partition
    assert len(most_in_flight) == 4  # every partition was used


async def test_a_message_outside_the_log_s_subject_layout_is_terminated(
    nats_url, buses, log_subjects, event_log
) -> None:
    await event_log.append(2)
    await publish(buses[0], log_subjects, event_log, 2)
    js = await buses[0].jetstream()
    await js.publish(f"{log_subjects.root}.default.seen.not-a-partition", b"stray")
    handled, reports = [], []

    async def handle(delivery: Delivery) -> None:
        handled.append(delivery.cursor)

    consumer = DurableConsumer(
        buses[1], log_subjects, quick("strays", ordered=False), handle, on_terminated=reports.append
    )
    async with running(consumer.run):
        await eventually(lambda: len(handled) == 2 and reports)
    assert [(r.reason, r.stream_sequence, r.delivery) for r in reports] == [
        ("UNREADABLE_SUBJECT", 3, None)
    ]


async def test_failures_are_logged_by_subject_and_sequence_never_by_content(
    buses, log_subjects, event_log, caplog
) -> None:
    await event_log.append(2, body=lambda n: f"ada{n}@example.com")
    await publish(buses[0], log_subjects, event_log, 2)

    async def handle(delivery: Delivery) -> None:
        if delivery.attempt == 1:
            raise RuntimeError(f"cannot reach {delivery.data.decode()}")
        raise PermanentFailure("UNREADABLE")

    consumer = DurableConsumer(buses[1], log_subjects, quick("logs", ordered=False), handle)
    with caplog.at_level("INFO", logger="rapport.eventbus"):
        async with running(consumer.run):
            await eventually(lambda: consumer.stats.terminated == 2)
    terminated = [r for r in caplog.records if r.getMessage().startswith("message terminated")]
    assert sorted((r.stream_sequence, r.cursor, r.error_reason) for r in terminated) == [
        (1, "1", "PERMANENT:UNREADABLE"),
        (2, "2", "PERMANENT:UNREADABLE"),
    ]
    assert all(r.subject.startswith(log_subjects.root) for r in terminated)
    assert "example.com" not in caplog.text
