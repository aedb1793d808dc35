"""The outbox relay on its own (SQLite, a clock moved by hand): profile events reach the
sink once, wait while it is down, and one event that cannot be sent never holds back
the others; opt-outs are recorded through the consent port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import pytest
from rapport.delivery.adapters.consent_recorder import ConsentRecorder
from rapport.delivery.adapters.profile_events_client import ProfileEvent, ProfileEventSink
from rapport.delivery.adapters.status_history import CONSENT_OPT_OUT, PROFILE_EVENT
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import Channel, RetryPolicy
from rapport.delivery.service_layer.closed_loop import ClosedLoop
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.outbox_relay import OutboxRelay
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.grpctesting import eventually
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate

from .._delivery_support import Clock, InMemoryConsentClient, InMemoryProfileClient


class Sink(ProfileEventSink):
    def __init__(self) -> None:
        self.stored: dict[str, ProfileEvent] = {}
        self.down = False
        self.calls = 0

    async def ingest(
        self, workspace: str, events: Sequence[ProfileEvent], *, now: datetime
    ) -> list[bool]:
        self.calls += 1
        if self.down:
            raise UpstreamUnavailable("profile", "UNAVAILABLE")
        if any(e.event == "Poison" for e in events):
            raise ValueError("cannot encode")
        for event in events:
            self.stored.setdefault(event.message_id, event)
        return [event.event != "Rejected" for event in events]


class Recorder(ConsentRecorder):
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, Channel, str]] = []
        self.down = False

    async def record_opt_out(
        self,
        customer: str,
        purpose: str,
        channel: Channel,
        *,
        source: str,
        proof: str,
        effective_time: datetime | None = None,
    ) -> None:
        if self.down:
            raise UpstreamUnavailable("consent", "UNAVAILABLE")
        self.recorded.append((customer, purpose, channel, source))


@pytest.fixture
async def relay(
    tmp_path: Path,
) -> AsyncIterator[tuple[OutboxRelay, Dependencies, Sink, Recorder, Clock]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    sink, recorder, clock = Sink(), Recorder(), Clock()
    deps = Dependencies(
        uow_factory=lambda *, readonly=False: DeliveryUnitOfWork(engine, readonly=readonly),
        workspaces=frozenset({"default"}),
        profiles=InMemoryProfileClient(),
        consents=InMemoryConsentClient(),
        providers={},
        retry_policy=RetryPolicy(),
        page_tokens=PageTokens(None),
        clock=clock,
        loop=ClosedLoop(profile_events=sink, opt_outs=recorder),
    )
    try:
        yield OutboxRelay(deps, batch_size=10), deps, sink, recorder, clock
    finally:
        await engine.dispose()


async def _add(deps: Dependencies, item_id: str, kind: str, payload: dict) -> None:
    async with deps.uow_factory() as uow:
        await uow.status.add_outbox(
            item_id=item_id,
            kind=kind,
            workspace="default",
            customer_id="c1",
            payload=payload,
            now=deps.clock(),
        )
        await uow.commit()


def _event(name: str) -> dict:
    return {
        "event": name,
        "identifiers": [["email", "a@b.c"]],
        "properties": {"message": "workspaces/default/messages/m1"},
        "time": "2030-01-01T00:00:00+00:00",
    }


async def test_events_wait_while_profile_is_down_then_go_once(relay) -> None:  # type: ignore[no-untyped-def]
    relayer, deps, sink, _, clock = relay
    for n in range(3):
        await _add(deps, f"e{n}", PROFILE_EVENT, _event("Email Sent"))
    await _add(deps, "e0", PROFILE_EVENT, _event("Email Sent"))  # the same item again: one row
    sink.down = True
    assert await relayer.relay_due() == 3
    assert await relayer.relay_due() == 0  # backing off
    sink.down = False
    clock.advance(1.5)
    assert await relayer.relay_due() == 3
    clock.advance(600)
    assert await relayer.relay_due() == 0
    assert sorted(sink.stored) == ["e0", "e1", "e2"]


async def test_one_bad_event_never_holds_back_the_others(relay) -> None:  # type: ignore[no-untyped-def]
    relayer, deps, sink, _, clock = relay
    await _add(deps, "a", PROFILE_EVENT, _event("Email Sent"))
    await _add(deps, "b", PROFILE_EVENT, _event("Poison"))
    await _add(deps, "c", PROFILE_EVENT, _event("Rejected"))
    await _add(deps, "d", PROFILE_EVENT, {"event": "unreadable"})
    await _add(deps, "e", PROFILE_EVENT, _event("Email Delivered"))
    assert await relayer.relay_due() == 5
    assert sorted(sink.stored) == ["a", "c", "e"]
    assert relayer.dropped == 3  # the poison, the rejected one, the unreadable one
    clock.advance(600)
    assert await relayer.relay_due() == 0


async def test_opt_outs_are_recorded_and_retried(relay) -> None:  # type: ignore[no-untyped-def]
    relayer, deps, _, recorder, clock = relay
    payload = {
        "purpose": "marketing",
        "channel": "EMAIL",
        "source": "bounce",
        "proof": "workspaces/default/messages/m1",
        "time": "2029-12-31T23:00:00+00:00",
    }
    await _add(deps, "o1", CONSENT_OPT_OUT, payload)
    recorder.down = True
    assert await relayer.relay_due() == 1
    assert recorder.recorded == []
    recorder.down = False
    clock.advance(2)
    assert await relayer.relay_due() == 1
    assert recorder.recorded == [
        ("workspaces/default/customers/c1", "marketing", Channel.EMAIL, "bounce")
    ]


class WatchedWakeup(asyncio.Event):
    """The relay's wake-up, counting how often it was waited for."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    async def wait(self) -> Literal[True]:
        self.waits += 1
        return await super().wait()


async def test_a_stop_that_comes_with_a_wake_up_still_stops_the_relay(relay) -> None:  # type: ignore[no-untyped-def]
    # Python 3.11's asyncio.wait_for swallowed a cancellation that came as the wake-up
    # was set: the relay went on polling and the server's stop waited for it forever.
    _, deps, _, _, _ = relay
    wakeup = WatchedWakeup()
    relayer = OutboxRelay(replace(deps, loop=replace(deps.loop, wakeup=wakeup)), poll_seconds=30)
    running = asyncio.create_task(relayer.run())
    try:
        await eventually(lambda: wakeup.waits == 1, timeout=5)  # idle, waiting
        wakeup.set()
        running.cancel()
        done, _ = await asyncio.wait({running}, timeout=2)
        assert done == {running} and running.cancelled()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
