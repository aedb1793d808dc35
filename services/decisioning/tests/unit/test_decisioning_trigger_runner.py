"""The trigger runner with in-memory clients and a SQLite unit of work."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
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
from rapport.decisioning.domain.outbound import UNUSABLE_ANSWER, DependencyError
from rapport.decisioning.domain.policies import DecisionSettings
from rapport.decisioning.domain.validation import validate_action, validate_trigger
from rapport.decisioning.service_layer import commands, versions
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.trigger_runner import (
    STUCK_AFTER,
    UNEXPECTED_ATTEMPTS,
    Backoff,
    TriggerRunner,
    is_transient,
)
from rapport.decisioning.service_layer.triggered import Failure
from rapport.errors import Aborted
from rapport.grpctesting import eventually
from rapport.sqlstore import TransientConflict, create_engine, migrate
from sqlalchemy.exc import IntegrityError, OperationalError

from .._decisioning_fakes import FakeProfileClient, fake_dependencies

ALICE = "workspaces/default/customers/alice"
RUNNER = "rapport.decisioning.service_layer.trigger_runner"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
async def deps(tmp_path) -> AsyncIterator[Dependencies]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await migrate(engine, MIGRATIONS)
    dependencies = fake_dependencies(engine, NOW)
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
        # These tests are about the runner's mechanics: no contact limit gets in the way.
        await uow.draft.put_settings("default", DecisionSettings(contact_limits=()), NOW)
        await uow.commit()
    await publish(dependencies)
    dependencies.consent.grant(ALICE, "marketing", Channel.EMAIL, Channel.PUSH)
    # Alice has a profile (an unknown customer gets nothing); tests set her traits.
    dependencies.profile.traits[ALICE] = {}
    try:
        yield dependencies
    finally:
        await engine.dispose()


async def publish(deps: Dependencies) -> None:
    await versions.publish(commands.PublishDecisionConfig("workspaces/default"), deps)


async def stored(deps: Dependencies, cursor: str) -> bool:
    async with deps.uow(readonly=True) as uow:
        return await uow.signal_cursors.get("default") == cursor


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
    assert sent[0].data["event"] == {"total": 80.0}
    assert sent[0].data["decision"].startswith("workspaces/default/decisions/")
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
        # Names no trigger may have: not even looked up (PostgreSQL refuses NUL).
        signal(1, name="Cart\x00Abandoned", total=80.0),
        signal(1, name="x" * 257, total=80.0),
    ],
)
async def test_irrelevant_signals_cost_no_calls(deps, irrelevant):
    await TriggerRunner(deps).handle("default", irrelevant)
    assert deps.delivery.attempts == 0 and deps.consent.check_calls == 0
    assert deps.consent.batch_calls == [] and deps.profile.get_profile_calls == 0


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
        await eventually(lambda: stored(deps, "c1"))
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
    await eventually(lambda: deps.delivery.attempts)
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
    flaky.traits[ALICE] = {}
    flaky.append(signal(1, total=80.0))
    deps = dataclasses.replace(deps, profile=flaky)
    task = asyncio.create_task(
        TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.002).run()
    )
    try:
        await eventually(lambda: deps.delivery.sent)
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
    await publish(deps)
    await TriggerRunner(deps).handle("default", signal(1, total=80.0))
    assert deps.delivery.sent == [] and deps.consent.check_calls == 0
    assert deps.consent.batch_calls == []


# -- failures for good are recorded and passed over; transient ones retried --------------


def runner_log(caplog, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == RUNNER and r.getMessage().startswith(message)]


async def run_until(runner: TriggerRunner, check) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await eventually(check)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def fast(deps: Dependencies) -> TriggerRunner:
    """A runner with short pauses; Alice's profile makes the by-push condition false."""
    deps.profile.traits[ALICE] = {"app": False}
    return TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.002)


async def test_rule_errors_and_refusals_are_returned_as_failures(deps):
    deps.delivery.failures = [DependencyError("delivery", "INVALID_ARGUMENT", "BAD_DATA")]
    failures = await TriggerRunner(deps).handle("default", signal(1, total=80.0))
    assert failures == [
        Failure("workspaces/default/triggers/by-email", "delivery:BAD_DATA"),
        Failure("workspaces/default/triggers/by-push", "RULE_ERROR"),  # no `app` trait
    ]


async def test_a_profile_answer_that_cannot_be_used_fails_every_matched_trigger(deps):
    deps.profile.fail_get_with = DependencyError("profile", UNUSABLE_ANSWER, "UNCONVERTIBLE")
    failures = await TriggerRunner(deps).handle("default", signal(1, total=80.0))
    assert [f.reason for f in failures] == ["profile:UNCONVERTIBLE"] * 2
    assert deps.consent.check_calls == 0


async def test_an_unreadable_signal_is_recorded_and_the_next_one_fires(deps, caplog):
    caplog.set_level(logging.WARNING, RUNNER)
    deps.profile.append(Signal(cursor="c1", customer=ALICE, event=None, unreadable="BAD_EVENT"))
    deps.profile.append(signal(2, total=80.0))
    runner = fast(deps)
    await run_until(runner, lambda: stored(deps, "c2"))
    assert [m.idempotency_key for m in deps.delivery.sent] == ["trigger:by-email:m2"]
    assert runner.skipped["default"] == 1
    (record,) = runner_log(caplog, "signal passed over")
    assert (record.workspace, record.trigger, record.cursor, record.error_reason, record.count) == (
        "default",
        "",
        "c1",
        "BAD_EVENT",
        1,
    )


async def test_an_unexpected_error_is_retried_a_few_times_then_passed_over(deps, caplog):
    caplog.set_level(logging.WARNING, RUNNER)

    class BuggyProfile(FakeProfileClient):
        def __init__(self) -> None:
            super().__init__()
            self.bugs = UNEXPECTED_ATTEMPTS

        async def get_profile(self, customer):
            if self.bugs:
                self.bugs -= 1
                raise RuntimeError("a bug this signal's content sets off")
            return await super().get_profile(customer)

    buggy = BuggyProfile()
    buggy.append(signal(1, total=80.0))
    buggy.append(signal(2, total=80.0))
    deps = dataclasses.replace(deps, profile=buggy)
    runner = fast(deps)
    await run_until(runner, lambda: stored(deps, "c2"))
    assert [m.idempotency_key for m in deps.delivery.sent] == ["trigger:by-email:m2"]
    assert [r.error_reason for r in runner_log(caplog, "signal passed over")] == [
        "UNEXPECTED:RuntimeError"
    ]
    assert len(runner_log(caplog, "signal handling failed")) == UNEXPECTED_ATTEMPTS


async def test_a_lost_database_is_retried_not_passed_over(deps):
    class FlakyStorageProfile(FakeProfileClient):
        def __init__(self) -> None:
            super().__init__()
            self.failures = 2

        async def get_profile(self, customer):
            if self.failures:
                self.failures -= 1
                raise OperationalError("SELECT 1", {}, ConnectionError("server closed"))
            return await super().get_profile(customer)

    flaky = FlakyStorageProfile()
    flaky.append(signal(1, total=80.0))
    deps = dataclasses.replace(deps, profile=flaky)
    runner = fast(deps)
    await run_until(runner, lambda: stored(deps, "c1"))
    assert [m.idempotency_key for m in deps.delivery.sent] == ["trigger:by-email:m1"]
    assert runner.skipped["default"] == 0


async def test_a_signal_that_keeps_failing_transiently_is_reported_as_stuck(deps, caplog):
    caplog.set_level(logging.WARNING, RUNNER)
    deps.delivery.failures = [DependencyError("delivery", "UNAVAILABLE")] * (STUCK_AFTER + 1)
    deps.profile.append(signal(1, total=80.0))
    runner = fast(deps)
    await run_until(runner, lambda: stored(deps, "c1"))
    assert [m.idempotency_key for m in deps.delivery.sent] == ["trigger:by-email:m1"]
    stuck = runner_log(caplog, "trigger runner stuck")
    assert [(r.levelno, r.cursor, r.code, r.attempt) for r in stuck] == [
        (logging.ERROR, "c1", "UNAVAILABLE", STUCK_AFTER),
        (logging.ERROR, "c1", "UNAVAILABLE", STUCK_AFTER + 1),
    ]
    assert runner.skipped["default"] == 0


async def test_a_stream_failing_at_one_position_waits_the_longest_pause(deps, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, RUNNER)

    class RefusingProfile(FakeProfileClient):
        async def watch_signals(self, workspace, start_cursor):
            self.watch_cursors.append(start_cursor)
            raise DependencyError("profile", "RESOURCE_EXHAUSTED", "MESSAGE_TOO_LARGE")
            yield  # an async generator, like the real one

    real_sleep = asyncio.sleep
    delays: list[float] = []

    async def recording_sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    refusing = RefusingProfile()
    deps = dataclasses.replace(deps, profile=refusing)
    task = asyncio.create_task(
        TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=7.0).run()
    )
    try:
        while len(delays) < STUCK_AFTER + 2:
            await real_sleep(0.001)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # Doubling at first; once stuck, the longest pause every time (not 0.016, 0.032...).
    assert delays[: STUCK_AFTER + 2] == [0.001, 0.002, 0.004, 0.008, 7.0, 7.0, 7.0]
    stuck = runner_log(caplog, "trigger runner stuck")
    assert stuck[0].levelno == logging.ERROR
    assert (stuck[0].cursor, stuck[0].code, stuck[0].error_reason, stuck[0].attempt) == (
        "",
        "RESOURCE_EXHAUSTED",
        "MESSAGE_TOO_LARGE",
        STUCK_AFTER,
    )
    assert set(refusing.watch_cursors) == {""}


async def test_the_count_of_signals_profile_could_not_stream_is_logged(deps, caplog):
    caplog.set_level(logging.WARNING, RUNNER)
    deps.profile.append(dataclasses.replace(signal(1, total=80.0), skipped_before=4))
    runner = fast(deps)
    await run_until(runner, lambda: stored(deps, "c1"))
    (record,) = runner_log(caplog, "profile passed over signals")
    assert (record.workspace, record.cursor, record.count) == ("default", "c1", 4)
    assert runner.skipped_by_profile["default"] == 4
    assert len(deps.delivery.sent) == 1


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (DependencyError("delivery", "UNAVAILABLE"), True),
        (DependencyError("delivery", "DEADLINE_EXCEEDED"), True),
        (DependencyError("delivery", "INVALID_ARGUMENT"), False),
        (DependencyError("profile", UNUSABLE_ANSWER), False),
        (DependencyError("profile", "RESOURCE_EXHAUSTED", definite=True), False),
        (TransientConflict("RACE"), True),
        (Aborted("CONCURRENT_UPDATE", "kept conflicting"), True),
        (OperationalError("SELECT 1", {}, Exception("database is locked")), True),
        (IntegrityError("INSERT", {}, Exception("NOT NULL")), False),
        (ConnectionRefusedError(), True),
        (RuntimeError("bug"), False),
    ],
)
def test_what_is_transient(error, transient):
    assert is_transient(error) is transient
