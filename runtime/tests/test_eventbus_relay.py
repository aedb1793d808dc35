"""LogRelay against a real NATS server: order, restarts, crashes, duplicates, records it
cannot publish, outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.js.errors import APIError
from rapport.eventbus import BadSubjectToken, MessageTooLarge, NatsBus, StreamSpec
from rapport.grpctesting import eventually

from ._eventbus_support import (
    SqlLog,
    TcpProxy,
    make_relay,
    running,
    stream_contents,
)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[NatsBus]:
    bus = NatsBus(nats_url, name="relay-test", reconnect_seconds=0.1, request_timeout=1.0)
    yield bus
    await bus.close()


async def stored_bodies(url: str, stream: str) -> list[str]:
    return [stored.data.decode() for stored in await stream_contents(url, stream)]


def bodies(first: int, last: int) -> list[str]:
    return [str(n) for n in range(first, last + 1)]


async def test_the_log_is_published_in_order_with_its_cursor_and_id(
    nats_url, bus, log_subjects, event_log
) -> None:
    await event_log.append(20, workspace="default", customers=3)
    await event_log.append(10, workspace="brand-b", kind="trait_changed", customers=2)
    relay = make_relay(bus, log_subjects, event_log)
    async with running(relay.run):
        await eventually(lambda: relay.stats.published == 30)
        # A commit wakes the relay at once (it would otherwise poll every 30 s).
        await event_log.append(5)
        await eventually(lambda: relay.stats.published == 35, timeout=3)
        await eventually(lambda: position_is(event_log, 35))  # saved after the acks
    stored = await stream_contents(nats_url, log_subjects.stream)
    assert [s.data.decode() for s in stored] == bodies(1, 35)
    first, twenty_first = stored[0], stored[20]
    assert first.subject == f"{log_subjects.root}.default.seen.{log_subjects.partition_of('c1')}"
    assert twenty_first.subject.startswith(f"{log_subjects.root}.brand-b.trait_changed.")
    assert first.headers["Rapport-Cursor"] == "1"
    assert first.headers["Nats-Msg-Id"] == log_subjects.message_id(1)


async def test_a_restarted_relay_loses_nothing_and_repeats_nothing(
    nats_url, bus, log_subjects, event_log
) -> None:
    await event_log.append(30)
    first = make_relay(bus, log_subjects, event_log, batch_size=7)
    async with running(first.run):
        await eventually(lambda: first.stats.published == 30)
    await event_log.append(25)  # committed while no relay runs
    second = make_relay(NatsBus(nats_url, name="second"), log_subjects, event_log, batch_size=7)
    async with running(second.run):
        await eventually(lambda: second.stats.published == 25)
    assert await stored_bodies(nats_url, log_subjects.stream) == bodies(1, 55)
    assert second.stats.duplicates == 0


class FreezesOnSave:
    """The process dies after publishing, before the position is saved: save never
    returns, and the test then cancels the relay (its position stays where it was)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.frozen = asyncio.Event()

    async def load(self) -> int:
        return await self._inner.load()

    async def save(self, cursor: int) -> None:
        self.frozen.set()
        await asyncio.Event().wait()


async def test_a_crash_between_publish_and_position_save_publishes_nothing_twice(
    nats_url, bus, log_subjects, event_log
) -> None:
    await event_log.append(40)
    freezing = FreezesOnSave(event_log.position())
    crashing = make_relay(bus, log_subjects, event_log, position=freezing)
    async with running(crashing.run):
        await eventually(freezing.frozen.is_set)
    assert await event_log.position().load() == 0  # nothing saved
    assert crashing.stats.published == 40

    await event_log.append(10)
    restarted = make_relay(NatsBus(nats_url, name="restarted"), log_subjects, event_log)
    async with running(restarted.run):
        await eventually(lambda: restarted.stats.published == 10)
        await eventually(lambda: position_is(event_log, 50))
    assert await stored_bodies(nats_url, log_subjects.stream) == bodies(1, 50)


async def test_records_published_again_are_dropped_by_the_stream(
    nats_url, bus, log_subjects, event_log
) -> None:
    """A relay that publishes records another relay already stored (a second replica,
    or a retry after a lost acknowledgement) adds nothing: Nats-Msg-Id de-duplication."""
    await event_log.append(30)
    reading, published = asyncio.Event(), asyncio.Event()

    async def read_late(seq: int, limit: int):
        # This relay synced with the (empty) stream, and reads after the other published.
        reading.set()
        await published.wait()
        return await event_log.read_after(seq, limit)

    late = make_relay(
        NatsBus(nats_url, name="late"), log_subjects, event_log, position=event_log.position("late")
    )
    late._read_after = read_late
    first = make_relay(bus, log_subjects, event_log, position=event_log.position("first"))
    async with running(late.run):
        await eventually(reading.is_set)
        async with running(first.run):
            await eventually(lambda: first.stats.published == 30)
            published.set()
            await eventually(lambda: late.stats.duplicates == 30)
            assert late.stats.published == 0
            await event_log.append(5)  # both relay these: each is stored once
            await eventually(lambda: first.stats.published + late.stats.published == 35)
    assert await stored_bodies(nats_url, log_subjects.stream) == bodies(1, 35)


async def position_is(log: SqlLog, cursor: int) -> bool:
    return await log.position().load() == cursor


async def stored_count(url: str, stream: str, count: int) -> bool:
    return len(await stream_contents(url, stream)) == count


async def test_a_record_that_cannot_be_published_is_reported_and_passed_over(
    nats_url, bus, log_subjects, event_log
) -> None:
    await event_log.append(3)
    await event_log.append(1, body=lambda n: "POISON")  # 4: encode raises
    await event_log.append(1, kind="not.a.token")  # 5: no valid subject
    await event_log.append(1, body=lambda n: "x" * 2048)  # 6: over the stream's message limit
    await event_log.append(1, body=lambda n: "y" * bus.max_payload)  # 7: over the server's
    await event_log.append(1, kind="internal")  # 8: not relayed (encode returns None)
    await event_log.append(3)
    reported: list[tuple[int, Exception]] = []
    relay = make_relay(
        bus,
        log_subjects,
        event_log,
        stream=StreamSpec.for_log(log_subjects, max_message_bytes=1024),
        on_unpublishable=lambda entry, exc: reported.append((entry.seq, exc)),
    )
    async with running(relay.run):
        await eventually(lambda: relay.stats.published == 6)
        await eventually(lambda: position_is(event_log, 11))
    assert await stored_bodies(nats_url, log_subjects.stream) == ["1", "2", "3", "9", "10", "11"]
    assert [seq for seq, _ in reported] == [4, 5, 6, 7]  # each reported once, in event_log order
    errors = [exc for _, exc in reported]
    assert isinstance(errors[0], ValueError)
    assert isinstance(errors[1], BadSubjectToken)
    assert isinstance(errors[2], APIError) and errors[2].err_code == 10054
    assert isinstance(errors[3], MessageTooLarge)
    assert relay.stats.skipped == 4


async def test_nats_down_then_up_the_relay_catches_up(nats_url, log_subjects, event_log) -> None:
    proxy = TcpProxy(nats_url)
    await proxy.start()
    bus = NatsBus(proxy.url, name="outage", reconnect_seconds=0.1, request_timeout=0.5)
    relay = make_relay(bus, log_subjects, event_log, publish_timeout=0.5)
    try:
        await event_log.append(20)
        async with running(relay.run):
            await eventually(lambda: relay.stats.published == 20)
            await proxy.cut()
            await event_log.append(30)
            await eventually(lambda: relay.stats.outages > 0, timeout=10)
            await event_log.append(10)
            await proxy.start()
            await eventually(
                lambda: stored_count(nats_url, log_subjects.stream, 60), timeout=15, interval=0.1
            )
            await event_log.append(5)
            await eventually(lambda: stored_count(nats_url, log_subjects.stream, 65), timeout=10)
            await eventually(lambda: position_is(event_log, 65))
        assert await stored_bodies(nats_url, log_subjects.stream) == bodies(1, 65)
    finally:
        await proxy.cut()
        await bus.close()


async def test_a_relay_started_while_nats_is_down_publishes_once_it_is_up(
    nats_url, log_subjects, event_log
) -> None:
    proxy = TcpProxy(nats_url)
    await proxy.start()
    port_url = proxy.url
    await proxy.cut()
    bus = NatsBus(port_url, name="late-nats", reconnect_seconds=0.1, request_timeout=0.5)
    relay = make_relay(bus, log_subjects, event_log)
    try:
        await event_log.append(15)
        async with running(relay.run):
            await asyncio.sleep(0.5)
            assert relay.stats.published == 0
            await proxy.start()
            await eventually(lambda: relay.stats.published == 15, timeout=15)
        assert await stored_bodies(nats_url, log_subjects.stream) == bodies(1, 15)
    finally:
        await proxy.cut()
        await bus.close()


async def test_a_skipped_record_is_logged_by_its_cursor_never_its_content(
    nats_url, bus, log_subjects, event_log, caplog
) -> None:
    await event_log.append(1, body=lambda n: "POISON")
    await event_log.append(1, kind="ada@example.com")  # personal data where a kind should be
    await event_log.append(1)
    relay = make_relay(bus, log_subjects, event_log)
    with caplog.at_level("WARNING", logger="rapport.eventbus"):
        async with running(relay.run):
            await eventually(lambda: relay.stats.published == 1 and relay.stats.skipped == 2)
    skipped = [r for r in caplog.records if r.getMessage().startswith("relay skipped")]
    assert [(r.cursor, r.error_reason) for r in skipped] == [
        ("1", "ValueError"),
        ("2", "BadSubjectToken"),
    ]
    assert "ada@example.com" not in caplog.text and "unreadable payload" not in caplog.text
