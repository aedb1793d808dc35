"""The trigger runner behind the JetStream durable consumer (bootstrap's path with
nats_url): a dependency that stays away for longer than the consumer's redelivery
budget (max_deliver attempts) must not make the consumer pass over the signal.

The consumer is the real rapport.eventbus.DurableConsumer with the spec bootstrap
uses; only the NATS message is a stand-in, redelivered right away after a nak (as
the server does after the nak's delay) and counted as the server counts deliveries.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf import struct_pb2
from rapport.decisioning import bootstrap
from rapport.decisioning.domain.model import (
    ActionDraft,
    Channel,
    MessageContent,
    TriggerDraft,
)
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.policies import DecisionSettings
from rapport.decisioning.domain.validation import validate_action, validate_trigger
from rapport.decisioning.service_layer import commands, versions
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.trigger_runner import TriggerRunner
from rapport.eventbus import CURSOR_HEADER, DurableConsumer, LogSubjects, Terminated
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.sqlstore import create_engine, migrate

from .._decisioning_fakes import fake_dependencies

ALICE = "workspaces/default/customers/alice"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
SUBJECTS = LogSubjects("profile", "signals", partitions=4)


@pytest.fixture
async def deps(tmp_path) -> AsyncIterator[Dependencies]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    await migrate(engine, bootstrap.MIGRATIONS)
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
    trigger = validate_trigger(
        "default",
        "by-email",
        TriggerDraft(
            event_name="Cart Abandoned",
            condition="event.properties.total > 50.0",
            action_id="reminder",
            channel=Channel.EMAIL,
        ),
        action,
        dependencies.rules,
        create_time=NOW,
    )
    async with dependencies.uow() as uow:
        await uow.actions.add(action)
        await uow.triggers.add(trigger)
        await uow.draft.put_settings("default", DecisionSettings(contact_limits=()), NOW)
        await uow.commit()
    await versions.publish(commands.PublishDecisionConfig("workspaces/default"), dependencies)
    dependencies.consent.grant(ALICE, "marketing", Channel.EMAIL)
    dependencies.profile.traits[ALICE] = {}
    try:
        yield dependencies
    finally:
        await engine.dispose()


def cart_abandoned(cursor: int) -> bytes:
    """A signal as profile relays it to JetStream."""
    properties = struct_pb2.Struct()
    properties.update({"total": 80.0})
    event = profile_pb.Event(
        type=profile_pb.EVENT_TYPE_TRACK,
        message_id=f"m{cursor}",
        event="Cart Abandoned",
        customer=ALICE,
        properties=properties,
    )
    return profile_pb.Signal(
        cursor=str(cursor),
        kind=profile_pb.SIGNAL_KIND_EVENT_SEEN,
        customer=ALICE,
        event_seen=profile_pb.EventSeen(event=event),
    ).SerializeToString()


@dataclass
class StandInMessage:
    """What DurableConsumer reads of a nats Msg, and how it answered it."""

    data: bytes
    delivered: int
    answers: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return SUBJECTS.subject("default", "event_seen", ALICE)

    @property
    def headers(self) -> dict[str, str]:
        return {CURSOR_HEADER: "1"}

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(num_delivered=self.delivered, sequence=SimpleNamespace(stream=1))

    async def ack(self) -> None:
        self.answers.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.answers.append("nak")

    async def term(self) -> None:
        self.answers.append("term")

    async def in_progress(self) -> None:
        """The consumer's keep-alive: nothing the test counts."""


async def deliver_until_answered(consumer: DurableConsumer, data: bytes) -> list[str]:
    """Deliver the message as the server would: again after every nak, until it is
    acknowledged or terminated (or the consumer's max_deliver is used up)."""
    answers: list[str] = []
    for delivered in range(1, bootstrap.TRIGGER_CONSUMER_SPEC.max_deliver + 1):
        message = StandInMessage(data, delivered)
        await consumer._handle(message)  # type: ignore[arg-type]
        answers.extend(message.answers)
        if message.answers[-1] != "nak":
            break
    return answers


async def test_an_outage_longer_than_the_redelivery_budget_loses_no_signal(deps):
    """Delivery is away for more attempts than JetStream redelivers a message: the
    trigger still sends, once, and the signal is acknowledged, not terminated."""
    outage = bootstrap.TRIGGER_CONSUMER_SPEC.max_deliver + 2
    deps.delivery.failures = [DependencyError("delivery", "UNAVAILABLE")] * outage
    runner = TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.001)
    terminated: list[Terminated] = []
    consumer = DurableConsumer(
        None,  # type: ignore[arg-type]  # no server: the message is handed in directly
        SUBJECTS,
        bootstrap.TRIGGER_CONSUMER_SPEC,
        functools.partial(bootstrap._consume, runner),
        on_terminated=terminated.append,
    )
    answers = await deliver_until_answered(consumer, cart_abandoned(1))
    assert terminated == []
    assert answers[-1] == "ack"
    assert [m.idempotency_key for m in deps.delivery.sent] == ["trigger:by-email:m1"]
    assert deps.delivery.attempts == outage + 1


async def test_a_signal_that_fails_for_good_is_still_passed_over(deps):
    """What fails in a way nobody expected still goes back to JetStream, which
    redelivers it and finally terminates it (the runner does not hold it forever)."""
    runner = TriggerRunner(deps, backoff_initial_seconds=0.001, backoff_max_seconds=0.001)

    class Bug(Exception):
        pass

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise Bug

    runner.handle = broken  # type: ignore[method-assign]
    terminated: list[Terminated] = []
    consumer = DurableConsumer(
        None,  # type: ignore[arg-type]
        SUBJECTS,
        bootstrap.TRIGGER_CONSUMER_SPEC,
        functools.partial(bootstrap._consume, runner),
        on_terminated=terminated.append,
    )
    answers = await deliver_until_answered(consumer, cart_abandoned(2))
    assert answers[-1] == "term"
    assert [t.reason for t in terminated] == ["MAX_DELIVERIES:Bug"]
    assert deps.delivery.sent == []
