"""A time window's date trait changed to a value that is present but not a date: never
guessed, counted by the trigger runner and warned of once per change, naming the
customer, the triggers and the trait, never the value."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.domain.model import (
    ActionDraft,
    Channel,
    MessageContent,
    TriggerDraft,
    TriggerKind,
)
from rapport.decisioning.domain.signals import Signal, SignalKind, TraitChange
from rapport.decisioning.domain.validation import validate_action, validate_trigger
from rapport.decisioning.service_layer import commands, versions
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.trigger_kinds import NOT_A_DATE
from rapport.decisioning.service_layer.trigger_runner import TriggerRunner
from rapport.decisioning.service_layer.triggered import Failure
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine, migrate

from .._decisioning_fakes import fake_dependencies

ALICE = "workspaces/default/customers/alice"
RUNNER = "rapport.decisioning.service_layer.trigger_runner"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
TRAIT = "policy_renewal_date"
WINDOWS = "workspaces/default/triggers/renewal-30, workspaces/default/triggers/renewal-60"


@pytest.fixture
async def deps(tmp_path) -> AsyncIterator[Dependencies]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await migrate(engine, MIGRATIONS)
    dependencies = fake_dependencies(engine, NOW)
    action = validate_action(
        "default",
        "reminder",
        ActionDraft(
            channels=[Channel.EMAIL],
            purpose="marketing",
            value=1.0,
            content=MessageContent(subject="s", text_body="b"),
        ),
        dependencies.rules,
        create_time=NOW,
    )
    async with dependencies.uow() as uow:
        await uow.actions.add(action)
        for days in (30, 60):
            draft = TriggerDraft(
                kind=TriggerKind.TIME_WINDOW,
                date_trait=TRAIT,
                offset_days=-days,
                action_id="reminder",
                channel=Channel.EMAIL,
            )
            trigger = validate_trigger(
                "default", f"renewal-{days}", draft, action, dependencies.rules, create_time=NOW
            )
            await uow.triggers.add(trigger)
        await uow.commit()
    await versions.publish(commands.PublishDecisionConfig("workspaces/default"), dependencies)
    dependencies.profile.traits[ALICE] = {}
    try:
        yield dependencies
    finally:
        await engine.dispose()


def changed(number: int, value) -> Signal:
    return Signal(
        cursor=f"c{number}",
        customer=ALICE,
        event=None,
        kind=SignalKind.TRAIT_CHANGED,
        trait=TraitChange(TRAIT, value),
    )


async def scheduled(deps: Dependencies) -> int:
    async with deps.uow(readonly=True) as uow:
        return len(await uow.trigger_schedules.pending("default", ALICE))


def warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == RUNNER and "is not a date" in r.getMessage()]


@pytest.mark.parametrize("value", ["31/12/2026", 20261231, "tomorrow", True, {"d": "x"}])
async def test_a_value_that_is_not_a_date_comes_back_as_one_failure(deps, value):
    failures = await TriggerRunner(deps).handle("default", changed(1, value))
    assert failures == [Failure(WINDOWS, NOT_A_DATE)]
    assert await scheduled(deps) == 0


@pytest.mark.parametrize("value", ["2026-12-31", "2026-12-31T10:00:00Z", None, "", "  "])
async def test_a_date_or_no_value_is_no_failure(deps, value):
    assert await TriggerRunner(deps).handle("default", changed(1, value)) == []
    assert await scheduled(deps) == (2 if value and value.strip() else 0)


async def test_the_runner_counts_and_warns_once_per_change_without_the_value(deps, caplog):
    caplog.set_level(logging.WARNING, RUNNER)
    runner = TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.002)
    for number, value in enumerate(["31/12/2026", "2026-12-31", 20261231, None], start=1):
        deps.profile.append(changed(number, value))
    await runner.consume("default", deps.profile.signals[0])
    await runner.consume("default", deps.profile.signals[0])  # redelivered: no new warning
    for signal in deps.profile.signals[1:]:
        await runner.consume("default", signal)
    await eventually(lambda: runner.not_a_date["default"] == 2)
    assert runner.skipped["default"] == 0
    records = warnings(caplog)
    assert [(r.customer, r.trigger, r.trait, r.cursor) for r in records] == [
        (ALICE, WINDOWS, TRAIT, "c1"),
        (ALICE, WINDOWS, TRAIT, "c3"),
    ]
    for record in records:
        shown = f"{record.getMessage()} {vars(record)}"
        assert "31/12/2026" not in shown and "20261231" not in shown
