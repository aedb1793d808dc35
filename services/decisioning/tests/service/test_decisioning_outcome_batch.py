"""Outcomes recorded in batches (outcome_batch.py, the trigger runner's batches) equal
outcomes recorded one event at a time: the same stored rows (outcomes, bandit
statistics, model contributions, contacts), the same experiment report, the same
statistics after an erasure; duplicates inside a batch; a poisoned event in a batch.
On SQLite, and on PostgreSQL (CI=true)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from rapport.decisioning.adapters import tables
from rapport.decisioning.adapters.experiment_repository import SentMessage
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.domain.contact_policy import Contact
from rapport.decisioning.domain.experiments import Strategy
from rapport.decisioning.domain.learning import ModelKind, ModelMode
from rapport.decisioning.domain.model import (
    ActionDraft,
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    MessageContent,
    OutcomeType,
    RankedAction,
    ScoreParts,
    Signal,
    TrackedEvent,
)
from rapport.decisioning.domain.validation import validate_action
from rapport.decisioning.service_layer import (
    attribution,
    commands,
    conversion_rules,
    customer_data,
    experiments,
    model_commands,
    models,
    outcome_batch,
    versions,
)
from rapport.decisioning.service_layer.attribution import attribute_event
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.outcome_batch import attribute_events
from rapport.decisioning.service_layer.trigger_runner import TriggerRunner
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine, migrate

from .._decisioning_fakes import fake_dependencies

WS = "default"
PARENT = "workspaces/default"
RENEWAL = "workspaces/default/actions/renewal"
EXPERIMENT = "workspaces/default/experiments/exp"
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
HAPPENED = NOW - timedelta(hours=1)
CUSTOMERS = [f"workspaces/default/customers/c{i}" for i in range(8)]
FEATURES = {"traits.plan=gold": 1.0, "context.placement=home": 1.0}


@dataclasses.dataclass
class Store:
    deps: Dependencies
    engine: Any


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite files, else the PostgreSQL URL (a schema per database)."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture
async def stores(backend, tmp_path) -> AsyncIterator[Callable[[], Any]]:
    """`await make()`: a fresh database with the scenario's set-up (two per test)."""
    made: list[tuple[Any, str | None, str]] = []

    async def make() -> Store:
        url = backend or f"sqlite+aiosqlite:///{tmp_path}/d{len(made)}.db"
        schema = None if backend is None else "t_" + uuid.uuid4().hex[:12]
        engine = create_engine(url, schema=schema)
        made.append((engine, schema, url))
        await migrate(engine, MIGRATIONS, schema=schema)
        deps = fake_dependencies(engine, NOW, WS)
        await _set_up(deps)
        return Store(deps, engine)

    yield make
    for engine, schema, url in made:
        await engine.dispose()
        if schema is not None:
            dropper = create_engine(url)
            async with dropper.begin() as conn:
                await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await dropper.dispose()


def _decision(
    n: int, *, control: bool = False, features: bool = True, outranked: bool = False
) -> Decision:
    ranked = RankedAction(
        RENEWAL, 1, 1.0, ScoreParts(0.1, 1.0, 10.0, 1.0), 1.0, Channel.EMAIL, "chosen"
    )
    left_out = ExclusionReason.CONTROL_GROUP if control else ExclusionReason.OUTRANKED
    return Decision(
        decision_id=f"d{n}",
        workspace=WS,
        customer=CUSTOMERS[n],
        actions=() if control or outranked else (ranked,),
        excluded=(ExcludedAction(RENEWAL, left_out, "left out"),) if control or outranked else (),
        channel=None,
        source="",
        create_time=NOW - timedelta(days=1),
        experiment_id="exp",
        arm_id="control" if control else "treated",
        control=control,
        features=FEATURES if features else {},
    )


async def _set_up(deps: Dependencies) -> None:
    """Two bandits (rewarded by clicks, by conversions), an experiment, a conversion
    rule; decisions d0..d5 and d7 (d1 a control, d5 without features, d7 treated but
    renewal outranked), each with a sent message m<n>; d2 holds contacts on email and
    push (a best-channel send)."""
    action = validate_action(
        WS,
        "renewal",
        ActionDraft(
            channels=[Channel.EMAIL, Channel.PUSH],
            purpose="marketing",
            value=10.0,
            content=MessageContent(subject="s", text_body="b"),
        ),
        deps.rules,
        create_time=NOW,
    )
    async with deps.uow() as uow:
        await uow.actions.add(action)
        await uow.commit()
    await versions.publish(commands.PublishDecisionConfig(PARENT), deps)
    for model_id, mode, reward, features in (
        ("clicks", ModelMode.ACTIVE, OutcomeType.CLICK, ("traits.plan",)),
        (
            "renewals",
            ModelMode.SHADOW,
            OutcomeType.CONVERSION,
            ("traits.plan", "context.placement"),
        ),
    ):
        fields = model_commands.ModelFields(
            kind=ModelKind.BANDIT,
            mode=mode,
            features=features,
            dimensions=16,
            reward_outcome=reward,
        )
        await models.create_model(model_commands.CreateModel(PARENT, model_id, fields), deps)
    await experiments.create_experiment(
        commands.CreateExperiment(
            PARENT,
            "exp",
            actions=(RENEWAL,),
            arms=(("treated", Strategy.MODEL, 1), ("control", Strategy.CONTROL, 1)),
            start_time=NOW - timedelta(days=2),
        ),
        deps,
    )
    await conversion_rules.create_conversion_rule(
        commands.CreateConversionRule(
            PARENT,
            "renewed",
            action=RENEWAL,
            event_name="Policy Renewed",
            window=timedelta(days=30),
        ),
        deps,
    )
    decisions = [
        *(_decision(n, control=n == 1, features=n != 5) for n in range(6)),
        _decision(7, outranked=True),
    ]
    async with deps.uow() as uow:
        await uow.decisions.add_many(decisions)
        for d in decisions:
            message = f"{PARENT}/messages/m{d.decision_id[1:]}"
            link = SentMessage(WS, message, d.decision_id, d.customer, RENEWAL, Channel.EMAIL, NOW)
            await uow.sent_messages.add_if_absent(link)
        held = [Contact(c, "marketing", RENEWAL, NOW - timedelta(days=1), "d2") for c in
                (Channel.EMAIL, Channel.PUSH)]  # fmt: skip
        await uow.contacts.add(WS, CUSTOMERS[2], held)
        await uow.commit()
    # Recorded before the batch: found again, not recorded twice.
    await attribute_event(WS, CUSTOMERS[3], _status("Email Delivered", 3, "pre"), deps)
    # Learnt before the batch: the batch adds to stored statistics.
    await attribute_event(WS, CUSTOMERS[3], _status("Email Complained", 3, "pre-x"), deps)


def _status(name: str, n: int, message_id: str, **properties: Any) -> TrackedEvent:
    return TrackedEvent(
        "track",
        name,
        message_id,
        {"message": f"{PARENT}/messages/m{n}", **properties},
        {},
        time=HAPPENED,
    )


def _event(name: str, message_id: str, **properties: Any) -> TrackedEvent:
    return TrackedEvent("track", name, message_id, properties, {}, time=HAPPENED)


def batch_events() -> list[tuple[str, TrackedEvent]]:
    c = CUSTOMERS
    return [
        (c[0], _status("Email Sent", 0, "s0", channel="EMAIL")),
        (c[0], _status("Email Delivered", 0, "v0", channel="EMAIL")),
        (c[0], _status("Email Opened", 0, "o0")),
        (c[0], _status("Email Clicked", 0, "k0")),
        (c[0], _status("Email Clicked", 0, "k0-again")),  # a second click: no new reward
        (c[0], _event("Policy Renewed", "r0", value=50)),  # a conversion, treated
        (c[1], _event("Policy Renewed", "r1", revenue=20)),  # a conversion, control
        (c[2], _status("Push Delivered", 2, "v2", channel="PUSH")),  # settles on push
        (c[2], _status("Push Opened", 2, "o2", channel="PUSH")),
        (c[3], _status("Email Delivered", 3, "pre")),  # recorded before the batch
        (c[3], _status("Email Opened", 3, "dup")),
        (c[3], _status("Email Opened", 3, "dup")),  # the same event twice in the batch
        (c[3], _status("Email Clicked", 3, "k3")),
        (c[4], _status("Email Complained", 4, "x4")),  # a rejection: an exposure
        (c[4], _status("Email Opened", 0, "wrong")),  # another customer's message
        (c[4], _status("Email Opened", 99, "unknown")),  # no such message
        (c[5], _status("Email Clicked", 5, "k5")),  # a decision without features
        (c[6], _event("Policy Renewed", "r6")),  # no decision to convert
        (c[6], _event("Page Viewed", "p6")),
        # A conversion, treated by intent: renewal lost arbitration in d7.
        (c[7], _event("Policy Renewed", "r7")),
    ]


async def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the outcomes touch, in a stable order (times as UTC)."""
    found = {}
    async with store.engine.connect() as conn:
        for table in (
            tables.outcomes,
            tables.model_statistics,
            tables.model_contributions,
            tables.contacts,
        ):
            rows = (await conn.execute(sa.select(table))).all()
            found[table.name] = sorted(
                tuple(v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo else v for v in row)
                for row in rows
            )
    return found


async def report(store: Store) -> Any:
    found = await experiments.get_experiment_report(
        commands.GetExperimentReport(EXPERIMENT), store.deps
    )
    return dataclasses.replace(found, compute_time=NOW)


async def test_a_batch_stores_what_one_at_a_time_stores(stores):
    one, batch = await stores(), await stores()
    for customer, event in batch_events():
        await attribute_event(WS, customer, event, one.deps)
    new = await attribute_events(WS, batch_events(), batch.deps)
    expected = await dump(one)
    assert await dump(batch) == expected
    assert await report(batch) == await report(one)
    # Not trivially equal: everything the batch should do happened.
    assert new == len(expected["outcomes"]) - 2  # all but the two recorded before
    types = sorted(row[5] for row in expected["outcomes"])
    assert types.count("conversion") == 3 and types.count("click") == 4
    arms = {arm.arm.arm_id: arm for arm in (await report(one)).arms}
    assert (arms["treated"].reach, arms["treated"].conversions) == (6, 2)
    assert (arms["treated"].exposed_reach, arms["treated"].exposed_conversions) == (5, 1)
    assert (arms["control"].reach, arms["control"].conversions) == (1, 1)
    assert [(row[1], row[4]) for row in expected["contacts"]] == [("d2", "push")]
    assert {row[2] for row in expected["model_contributions"]} == {"clicks", "renewals"}
    assert {row[0] for row in expected["model_statistics"]} == {WS}
    # Erasing a customer subtracts the same contributions from the same statistics.
    for store in (one, batch):
        await customer_data.erase_customer_decisions(
            commands.EraseCustomerDecisions(PARENT, CUSTOMERS[0]), store.deps
        )
    after = await dump(one)
    assert after != expected
    assert await dump(batch) == after
    assert await report(batch) == await report(one)


async def test_duplicates_in_a_batch_are_recorded_once(stores):
    store = await stores()
    event = (CUSTOMERS[0], _status("Email Clicked", 0, "k0"))
    assert await attribute_events(WS, [event, event, event], store.deps) == 1
    assert await attribute_events(WS, [event, event], store.deps) == 0
    rows = await dump(store)
    assert len(rows["outcomes"]) == 3  # the click and the two recorded in set-up
    # The set-up's rejection exposed both bandits; the click rewards one of them, once.
    assert sorted((row[2], row[8]) for row in rows["model_contributions"]) == [
        ("clicks", 0.0),
        ("clicks", 1.0),
        ("renewals", 0.0),
    ]
    assert [(row[1], row[6], row[7]) for row in rows["model_statistics"]] == [
        ("clicks", 2, 2),
        ("renewals", 1, 1),
    ]


class RecordingContacts:
    """A contact store (Redis in production) that records the channels settled."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, ...]] = []

    async def keep_channel(self, *args: Any) -> bool:
        self.kept.append(args)
        return True


async def test_a_contact_store_settles_the_same_channels_in_the_same_order(stores):
    one, batch = await stores(), await stores()
    contacts = {}
    for store in (one, batch):
        contacts[id(store)] = RecordingContacts()
        store.deps = dataclasses.replace(store.deps, contact_store=contacts[id(store)])
    for customer, event in batch_events():
        await attribute_event(WS, customer, event, one.deps)
    await attribute_events(WS, batch_events(), batch.deps)
    expected = contacts[id(one)].kept
    assert [k[2] for k in expected] == ["d0", "d0", "d2", "d2"]
    assert contacts[id(batch)].kept == expected


def _signal(cursor: int, customer: str, event: TrackedEvent) -> Signal:
    return Signal(cursor=f"c{cursor:03d}", customer=customer, event=event)


async def _run_until_stored(deps: Dependencies, cursor: str) -> TriggerRunner:
    runner = TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.002)
    task = asyncio.create_task(runner.run())

    async def stored() -> bool:
        async with deps.uow(readonly=True) as uow:
            return await uow.signal_cursors.get(WS) == cursor

    try:
        await eventually(stored)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return runner


async def test_the_runner_records_a_batch_as_one_at_a_time_does(stores, monkeypatch):
    one, streamed = await stores(), await stores()
    for customer, event in batch_events():
        await attribute_event(WS, customer, event, one.deps)
    for n, (customer, event) in enumerate(batch_events()):
        streamed.deps.profile.append(_signal(n, customer, event))
    batches = []

    async def spy(workspace, events, deps):
        batches.append(len(events))
        return await attribute_events(workspace, events, deps)

    monkeypatch.setattr(outcome_batch, "attribute_events", spy)
    runner = await _run_until_stored(streamed.deps, f"c{len(batch_events()) - 1:03d}")
    assert runner.skipped[WS] == 0
    # The stream had them all when the runner started: one batch.
    assert batches == [len(batch_events())]
    assert await dump(streamed) == await dump(one)


class Poisoned(Exception):
    """What attribution raises for the poison event, however often it is tried."""


@pytest.fixture
def poison(monkeypatch) -> TrackedEvent:
    """An event whose attribution always fails (a bug its content triggers), on both
    paths: one at a time and in a batch."""
    event = _event("Policy Renewed", "poison")
    real = attribution.status_outcome

    def status_outcome(tracked: TrackedEvent) -> Any:
        if tracked.message_id == event.message_id:
            raise Poisoned(tracked.message_id)
        return real(tracked)

    monkeypatch.setattr(attribution, "status_outcome", status_outcome)
    monkeypatch.setattr(outcome_batch, "status_outcome", status_outcome)
    return event


async def test_a_poisoned_event_is_passed_over_alone(stores, caplog, poison):
    """An event whose attribution fails however often it is tried: the batch falls
    back to one at a time, the event is passed over (recorded, logged) and every
    other event of the batch is recorded."""
    one, streamed = await stores(), await stores()
    events = batch_events()
    events.insert(4, (CUSTOMERS[0], poison))
    for customer, event in batch_events():
        await attribute_event(WS, customer, event, one.deps)
    for n, (customer, event) in enumerate(events):
        streamed.deps.profile.append(_signal(n, customer, event))
    with caplog.at_level(logging.WARNING):
        runner = await _run_until_stored(streamed.deps, f"c{len(events) - 1:03d}")
    assert runner.skipped[WS] == 1
    messages = [(r.getMessage(), getattr(r, "cursor", None)) for r in caplog.records]
    assert ("batch of outcomes failed: its signals are handled one at a time", "c000") in messages
    assert ("signal passed over", "c004") in messages
    assert await dump(streamed) == await dump(one)


async def test_concurrent_consumer_calls_share_a_batch(stores, monkeypatch, poison):
    """The JetStream path: a handler call per message, several at once (one per
    partition). They share one unit of work; a poisoned event makes its batch fall
    back to one at a time, and fails alone (JetStream delivers it again, then
    terminates it)."""
    one, consumed = await stores(), await stores()
    for customer, event in batch_events():
        await attribute_event(WS, customer, event, one.deps)
    batches = []

    async def spy(workspace, events, deps):
        batches.append(len(events))
        return await attribute_events(workspace, events, deps)

    monkeypatch.setattr(outcome_batch, "attribute_events", spy)
    runner = TriggerRunner(consumed.deps)
    signals = [_signal(n, c, e) for n, (c, e) in enumerate(batch_events())]
    await asyncio.gather(*(runner.consume(WS, s) for s in signals))
    assert batches == [len(signals)]
    assert await dump(consumed) == await dump(one)

    renewed = _event("Policy Renewed", "r0-later")
    for customer in (CUSTOMERS[0], CUSTOMERS[2]):
        await attribute_event(WS, customer, renewed, one.deps)
    calls = [
        runner.consume(WS, _signal(100, CUSTOMERS[0], poison)),
        runner.consume(WS, _signal(101, CUSTOMERS[0], renewed)),
        runner.consume(WS, _signal(102, CUSTOMERS[2], renewed)),
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(r) for r in results] == [Poisoned, type(None), type(None)]
    assert batches[1:] == [3]
    assert await dump(consumed) == await dump(one)


async def test_odd_events_are_recorded_as_one_at_a_time_never_passed_over(stores):
    """An event of year 1 (its conversion window reaches before the first
    representable moment) and a status event naming a message with a NUL, or no
    message name at all: no outcome, nothing passed over, the rest of the batch
    recorded, in a batch as one at a time (on PostgreSQL a NUL cannot even be
    looked up)."""
    one, streamed = await stores(), await stores()
    ancient = dataclasses.replace(
        _event("Policy Renewed", "ancient"), time=datetime(1, 1, 1, tzinfo=UTC)
    )
    sent = batch_events()[0][1]
    odd = [
        (CUSTOMERS[0], ancient),
        (CUSTOMERS[1], _with_message(sent, "nul", "workspaces/default/messages/m\x001")),
        (CUSTOMERS[1], _with_message(sent, "not-a-name", "m1")),
    ]
    events = batch_events()
    events[3:3] = odd
    for customer, event in odd:
        assert await attribute_event(WS, customer, event, one.deps) == 0
    for customer, event in batch_events():
        await attribute_event(WS, customer, event, one.deps)
    for n, (customer, event) in enumerate(events):
        streamed.deps.profile.append(_signal(n, customer, event))
    runner = await _run_until_stored(streamed.deps, f"c{len(events) - 1:03d}")
    assert runner.skipped[WS] == 0
    assert await dump(streamed) == await dump(one)


def _with_message(event: TrackedEvent, message_id: str, message: str) -> TrackedEvent:
    return dataclasses.replace(
        event, message_id=message_id, properties={**event.properties, "message": message}
    )
