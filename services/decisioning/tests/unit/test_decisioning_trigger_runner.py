"""The trigger runner with in-memory clients and a SQLite unit of work."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.domain.model import (
    ActionDraft,
    Channel,
    MessageContent,
    Signal,
    TrackedEvent,
    TriggerDraft,
)
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.domain.validation import validate_action, validate_trigger
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.trigger_runner import Backoff, TriggerRunner
from rapport.decisioning.service_layer.unit_of_work import DecisioningUnitOfWork
from rapport.sqlstore import create_engine, migrate

from .._decisioning_fakes import FakeConsentClient, FakeDeliveryClient, FakeProfileClient

ALICE = "workspaces/default/customers/alice"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
async def deps(tmp_path) -> AsyncIterator[Dependencies]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await migrate(engine, MIGRATIONS)
    dependencies = Dependencies(
        uow=functools.partial(DecisioningUnitOfWork, engine),
        profile=FakeProfileClient(),
        consent=FakeConsentClient(),
        delivery=FakeDeliveryClient(),
        workspaces=("default",),
        rules=RuleBook(),
        clock=lambda: NOW,
    )
    action = validate_action(
        "default",
        "reminder",
        ActionDraft(
            channels=[Channel.EMAIL, Channel.PUSH],
            purpose="marketing",
            value=1.0,
            content=MessageContent(subject="s", text_body="b"),
        ),
        dependencies.rules,
        create_time=NOW,
    )
    triggers = [
        validate_trigger(
            "default",
            trigger_id,
            TriggerDraft(
                event_name="Cart Abandoned",
                condition=condition,
                action_id="reminder",
                channel=channel,
            ),
            action,
            dependencies.rules,
            create_time=NOW,
        )
        for trigger_id, condition, channel in [
            ("by-email", "event.properties.total > 50.0", Channel.EMAIL),
            ("by-push", "profile.traits.app == true", Channel.PUSH),
        ]
    ]
    async with dependencies.uow() as uow:
        await uow.actions.add(action)
        for trigger in triggers:
            await uow.triggers.add(trigger)
        await uow.commit()
    dependencies.consent.grant(ALICE, "marketing", Channel.EMAIL, Channel.PUSH)
    try:
        yield dependencies
    finally:
        await engine.dispose()


def signal(number: int, name: str = "Cart Abandoned", event_type: str = "track", **properties):
    return Signal(
        cursor=f"c{number}",
        customer=ALICE,
        event=TrackedEvent(
            type=event_type,
            name=name,
            message_id=f"m{number}",
            properties=properties,
            context={},
        ),
    )


async def test_one_event_fires_every_matching_trigger(deps):
    deps.profile.traits[ALICE] = {"app": True}
    await TriggerRunner(deps).handle("default", signal(1, total=80.0))
    sent = deps.delivery.sent
    assert [(m.idempotency_key, m.channel) for m in sent] == [
        ("trigger:by-email:m1", Channel.EMAIL),
        ("trigger:by-push:m1", Channel.PUSH),
    ]
    assert sent[0].data == {"event": {"total": 80.0}}
    assert sent[0].source == "workspaces/default/triggers/by-email"


async def test_conditions_see_event_and_profile(deps):
    await TriggerRunner(deps).handle("default", signal(1, total=10.0))
    assert deps.delivery.sent == []  # total too low, no app trait (missing key: skipped)


@pytest.mark.parametrize(
    "irrelevant",
    [
        signal(1, name="Other", total=80.0),
        signal(1, event_type="identify", total=80.0),
        Signal(cursor="c1", customer=ALICE, event=None),
    ],
)
async def test_irrelevant_signals_cost_no_calls(deps, irrelevant):
    await TriggerRunner(deps).handle("default", irrelevant)
    assert deps.delivery.attempts == 0 and deps.consent.check_calls == 0


async def test_transient_errors_propagate_and_permanent_ones_skip(deps):
    runner = TriggerRunner(deps)
    deps.delivery.failures = [DependencyError("delivery", "UNAVAILABLE")]
    with pytest.raises(DependencyError):
        await runner.handle("default", signal(1, total=80.0))
    deps.delivery.failures = [DependencyError("delivery", "FAILED_PRECONDITION", "X")]
    await runner.handle("default", signal(2, total=80.0))
    assert deps.delivery.sent == []


async def test_retries_the_same_signal_then_stores_its_cursor(deps):
    deps.delivery.failures = [DependencyError("delivery", "DEADLINE_EXCEEDED")] * 3
    deps.profile.append(signal(1, total=80.0))
    runner = TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.002)
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(500):
            async with deps.uow(readonly=True) as uow:
                if await uow.signal_cursors.get("default") == "c1":
                    break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert deps.delivery.attempts == 4
    assert [m.idempotency_key for m in deps.delivery.sent] == ["trigger:by-email:m1"]


async def test_stops_promptly_while_backing_off(deps):
    deps.delivery.failures = [DependencyError("delivery", "UNAVAILABLE")] * 100
    deps.profile.append(signal(1, total=80.0))
    runner = TriggerRunner(deps, backoff_initial_seconds=30, backoff_max_seconds=60)
    task = asyncio.create_task(runner.run())
    for _ in range(200):
        if deps.delivery.attempts:
            break
        await asyncio.sleep(0.01)
    assert deps.delivery.attempts == 1
    task.cancel()
    async with asyncio.timeout(1):
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_profile_failure_while_watching_reconnects(deps):
    class FlakyProfile(FakeProfileClient):
        def __init__(self) -> None:
            super().__init__()
            self.failures = 2

        async def watch_signals(self, workspace, start_cursor):
            if self.failures:
                self.failures -= 1
                self.watch_cursors.append(start_cursor)
                raise DependencyError("profile", "UNAVAILABLE")
            async for item in super().watch_signals(workspace, start_cursor):
                yield item

    flaky = FlakyProfile()
    flaky.append(signal(1, total=80.0))
    deps = dataclasses.replace(deps, profile=flaky)
    task = asyncio.create_task(
        TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.002).run()
    )
    try:
        for _ in range(500):
            if deps.delivery.sent:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert flaky.watch_cursors == ["", "", ""]
    assert len(deps.delivery.sent) == 1


async def test_backoff_doubles_up_to_the_cap(monkeypatch):
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    backoff = Backoff(0.2, 5.0)
    for _ in range(7):
        await backoff.sleep()
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    await backoff.sleep()
    assert delays[-1] == 0.2


@pytest.mark.parametrize(
    "change",
    [
        {"end_time": NOW},  # out of its window
        {"channels": (Channel.SMS,)},  # replaced without the triggers' channels
    ],
)
async def test_actions_that_can_no_longer_be_sent_are_skipped(deps, change):
    deps.profile.traits[ALICE] = {"app": True}
    async with deps.uow() as uow:
        action = await uow.actions.get("default", "reminder")
        await uow.actions.put(dataclasses.replace(action, **change))
        await uow.commit()
    await TriggerRunner(deps).handle("default", signal(1, total=80.0))
    assert deps.delivery.sent == [] and deps.consent.check_calls == 0
