"""Consumers and relays end when cancelled, whatever nats-py is doing at that moment.

nats-py waits with asyncio.wait_for, which on Python 3.11 returns the answer instead of
raising when the cancel lands in the loop turn the answer arrives in. Seen in CI under
load by chance (a consumer test hung in teardown); made certain here by cancelling from
where nats-py receives the answer.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from rapport.eventbus import Delivery, DurableConsumer
from rapport.grpctesting import eventually

from ._eventbus_support import make_relay, publish, quick, running

# Well above a stop's normal time (a few loop turns), well below pytest's timeout.
_STOP_SECONDS = 5.0


async def stopped(task: asyncio.Task, seconds: float = _STOP_SECONDS) -> None:
    """Cancel ``task`` and wait for it to end: fail (not hang) when the cancel is lost."""
    task.cancel()
    # asyncio.wait, not a timeout around gather: gather waits for a task that ignores
    # its cancel.
    await asyncio.wait([task], timeout=seconds)
    if not task.done():
        # Lost. A consumer's workers are cancelled by run()'s task group once: cancel
        # them (and the task) again so that the test ends, then fail.
        task.cancel()
        for other in asyncio.all_tasks():
            if other.get_coro().__qualname__.startswith("DurableConsumer."):
                other.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pytest.fail(f"still running {seconds}s after it was cancelled")
    with contextlib.suppress(asyncio.CancelledError):
        task.result()  # anything but the cancel: an error of the consumer


def cancel_as_the_first_answer_arrives(monkeypatch: pytest.MonkeyPatch, task: asyncio.Task) -> None:
    """Cancel ``task`` in the loop turn the first fetch answer reaches its subscription."""
    bind = JetStreamContext.pull_subscribe_bind
    armed = [True]

    async def bind_and_arm(self, *args, **kwargs):
        subscription = await bind(self, *args, **kwargs)
        queue = subscription._sub._pending_queue  # nats-py's: fetch's answers land here
        put = queue.put_nowait

        def put_then_cancel(message) -> None:
            put(message)
            if armed[0]:
                armed[0] = False
                asyncio.get_running_loop().call_soon(task.cancel)

        queue.put_nowait = put_then_cancel
        return subscription

    monkeypatch.setattr(JetStreamContext, "pull_subscribe_bind", bind_and_arm)


async def test_a_consumer_cancelled_as_its_fetch_is_answered_ends_and_loses_nothing(
    monkeypatch, buses, log_subjects, event_log
) -> None:
    await event_log.append(3)
    await publish(buses[0], log_subjects, event_log, 3)
    seen_by_stopped: list[int] = []
    handled: list[int] = []

    async def stopping(delivery: Delivery) -> None:
        seen_by_stopped.append(delivery.cursor)

    async def other(delivery: Delivery) -> None:
        handled.append(delivery.cursor)

    spec = quick("stops", ordered=False, concurrency=1, ack_wait_seconds=30.0)
    consumer = DurableConsumer(buses[1], log_subjects, spec, stopping)
    task = asyncio.create_task(consumer.run())
    cancel_as_the_first_answer_arrives(monkeypatch, task)
    await eventually(lambda: task.cancelling(), timeout=10)
    await stopped(task)
    # The cancel came before the handler: the stopped replica handled nothing, and
    # what it had fetched goes to the other replica now (well before the 30 s
    # ack_wait), each message once.
    assert seen_by_stopped == []
    async with running(DurableConsumer(buses[2], log_subjects, spec, other).run):
        await eventually(lambda: len(handled) >= 3, timeout=10)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    assert sorted(handled) == [1, 2, 3]


async def test_a_stopping_replica_hands_its_whole_batch_over_at_once(
    buses, log_subjects, event_log
) -> None:
    await event_log.append(3)
    await publish(buses[0], log_subjects, event_log, 3)
    started, handled = asyncio.Event(), []

    async def slow(delivery: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    async def fast(delivery: Delivery) -> None:
        handled.append(delivery.cursor)

    spec = quick("batch", ordered=False, concurrency=1, fetch_batch=3, ack_wait_seconds=30.0)
    task = asyncio.create_task(DurableConsumer(buses[1], log_subjects, spec, slow).run())
    await eventually(started.is_set)
    await stopped(task)
    # Well before the 30 s ack_wait: the one being handled and the two behind it.
    async with running(DurableConsumer(buses[2], log_subjects, spec, fast).run):
        await eventually(lambda: sorted(handled) == [1, 2, 3], timeout=5)


async def test_a_consumer_ends_when_a_cancel_is_lost_below_it(
    buses, log_subjects, event_log
) -> None:
    """A handler (or library) that swallows the cancel: the consumer stops after it."""
    await event_log.append(1)
    await publish(buses[0], log_subjects, event_log, 1)
    started = asyncio.Event()

    async def swallows(delivery: Delivery) -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)

    spec = quick("swallowed", ordered=False, concurrency=1)
    task = asyncio.create_task(DurableConsumer(buses[1], log_subjects, spec, swallows).run())
    await eventually(started.is_set)
    await stopped(task)


def cancel_as_the_first_reply_arrives(monkeypatch: pytest.MonkeyPatch, task: asyncio.Task) -> None:
    """Cancel ``task`` in the loop turn the first reply to a request (a JetStream API
    call) is handed to its waiter; for a client connected after this."""
    hand_over = Client._request_sub_callback
    armed = [True]

    async def hand_over_then_cancel(self, message) -> None:
        await hand_over(self, message)
        if armed[0]:
            armed[0] = False
            asyncio.get_running_loop().call_soon(task.cancel)

    monkeypatch.setattr(Client, "_request_sub_callback", hand_over_then_cancel)


async def test_a_relay_cancelled_as_a_request_is_answered_ends(
    monkeypatch, buses, log_subjects, event_log
) -> None:
    await event_log.append(3)
    relay = make_relay(buses[0], log_subjects, event_log)
    task = asyncio.create_task(relay.run())
    cancel_as_the_first_reply_arrives(monkeypatch, task)
    await eventually(lambda: task.cancelling(), timeout=10)
    await stopped(task)
    assert relay.stats.published == 0  # it stopped at its first request: creating the stream


async def test_a_relay_ends_when_a_cancel_is_lost_below_it(
    monkeypatch, buses, log_subjects, event_log
) -> None:
    """A log reader that swallows the cancel: the relay stops after it."""
    await event_log.append(3)
    reading = asyncio.Event()
    read_after = event_log.read_after

    async def swallows(cursor: int, limit: int):
        if not reading.is_set():
            reading.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(60)
        return await read_after(cursor, limit)

    monkeypatch.setattr(event_log, "read_after", swallows)
    relay = make_relay(buses[0], log_subjects, event_log)
    task = asyncio.create_task(relay.run())
    await eventually(reading.is_set)
    await stopped(task)
