"""Outcome attribution for a batch of profile events in one unit of work.

The same outcomes, learning and settled channels as attribution.attribute_event called
on each event in turn, with a few bulk statements for the whole batch instead of a
transaction (and a dozen statements) per event: the links of every message named, the
conversion rules of every event name, the outcome ids already recorded, the decisions
learnt from, their earlier outcomes, and the bandits' statistics are each read once;
outcomes, statistics and model contributions are each written once.

Events are taken in order, as one at a time would: an outcome id seen earlier in the
batch (a replayed event) is recorded once, and an outcome counts the outcomes of its
decision recorded before it in the batch as earlier (first exposure, first reward).
Every outcome of the batch gets the batch's recording time.

Anything that fails makes the whole batch fail and roll back: the caller then handles
its events one at a time (trigger_runner.py), so one bad event is passed over alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from rapport.decisioning.adapters.model_contributions import Contribution
from rapport.decisioning.domain import names
from rapport.decisioning.domain.experiments import ConversionRule
from rapport.decisioning.domain.features import hashed
from rapport.decisioning.domain.learning import ActionStatistics, ModelKind, ModelSpec
from rapport.decisioning.domain.model import Channel, Decision, Outcome, OutcomeType, TrackedEvent
from rapport.sqlstore import run_with_retries

from .attribution import channel_of, conversion_value, event_channel, status_outcome
from .dependencies import Dependencies
from .model_cache import restrict_features
from .models import contribution_of, observation
from .outcomes import derived_outcome_id
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

# Events recorded in one unit of work at most.
MAX_BATCH = 200


@dataclass(frozen=True)
class _Settle:
    """A status event naming the channel delivery used (channel_offer.settle_channel)."""

    customer: str
    decision_id: str
    action: str
    channel: Channel


async def attribute_events(
    workspace: str, events: Sequence[tuple[str, TrackedEvent]], deps: Dependencies
) -> int:
    """Record the outcomes the (customer, event) pairs stand for; how many were new."""
    now = deps.clock()

    async def record(uow: DecisioningUnitOfWork) -> tuple[list[Outcome], list[_Settle]]:
        # First: an erasure of one of them then waits, or has deleted its decisions.
        await uow.contacts.lock_customers(workspace, (customer for customer, _ in events))
        candidates, settles = await _candidates(uow, workspace, events, now)
        known = await uow.outcomes.existing_ids(workspace, {o.outcome_id for o in candidates})
        new = []
        for outcome in candidates:
            if outcome.outcome_id not in known:
                known.add(outcome.outcome_id)
                new.append(outcome)
        await _learn(uow, workspace, new, now)
        await uow.outcomes.add_many(new)
        if deps.contact_store is None:
            await _settle_in(uow, workspace, settles)
        return new, settles

    new, settles = await run_with_retries(
        deps.uow, record, description="the batch of outcomes kept conflicting"
    )
    store = deps.contact_store
    if store is not None:
        # Redis holds the contacts: settled after the commit, as one at a time does.
        for s in settles:
            await store.keep_channel(workspace, s.customer, s.decision_id, s.action, s.channel)
    for customer, count in Counter(o.customer for o in new).items():
        log.info(
            "outcomes attributed",
            extra={"workspace": workspace, "customer": customer, "count": count},
        )
    return len(new)


async def _candidates(
    uow: DecisioningUnitOfWork,
    workspace: str,
    events: Sequence[tuple[str, TrackedEvent]],
    now: datetime,
) -> tuple[list[Outcome], list[_Settle]]:
    """The outcomes the events stand for, in order (some perhaps recorded already)."""
    statuses = [status_outcome(event) for _, event in events]
    links = await uow.sent_messages.get_many(
        workspace, {status[1] for status in statuses if status is not None}
    )
    rules = await uow.conversion_rules.for_events(workspace, {e.name for _, e in events})
    experiments = await uow.experiments.all(workspace) if rules else []
    outcomes: list[Outcome] = []
    settles: list[_Settle] = []
    for (customer, event), status in zip(events, statuses, strict=True):
        happened = event.time or now
        sent = links.get(status[1]) if status is not None else None
        if status is not None and sent is not None and sent.customer == customer:
            channel = event_channel(event)
            if channel is not None:
                settles.append(_Settle(customer, sent.decision_id, sent.action, channel))
            outcomes.append(
                Outcome(
                    workspace=workspace,
                    outcome_id=derived_outcome_id("status", event.message_id),
                    decision_id=sent.decision_id,
                    customer=customer,
                    action=sent.action,
                    type=status[0],
                    channel=channel or sent.channel,
                    outcome_time=happened,
                    create_time=now,
                )
            )
        for rule in rules.get(event.name, ()):
            decision = await uow.decisions.latest_about(
                workspace,
                customer,
                rule.action_name,
                rule.window_start(happened),
                happened,
                rule.experiments_about(experiments),
            )
            if decision is not None:
                outcomes.append(_conversion(workspace, customer, event, rule, decision, now))
    return outcomes, settles


def _conversion(
    workspace: str,
    customer: str,
    event: TrackedEvent,
    rule: ConversionRule,
    decision: Decision,
    now: datetime,
) -> Outcome:
    return Outcome(
        workspace=workspace,
        outcome_id=derived_outcome_id(
            "conversion", event.message_id, decision.decision_id, rule.action_id
        ),
        decision_id=decision.decision_id,
        customer=customer,
        action=rule.action_name,
        type=OutcomeType.CONVERSION,
        channel=channel_of(decision, rule.action_name),
        outcome_time=event.time or now,
        create_time=now,
        value=conversion_value(event),
    )


async def _learn(
    uow: DecisioningUnitOfWork, workspace: str, outcomes: Sequence[Outcome], now: datetime
) -> None:
    """models.learn_from_outcome for each outcome in turn, statistics read and written
    once per (model, action)."""
    decisions = await uow.decisions.learning_views(
        workspace, {o.decision_id for o in outcomes if o.decision_id}
    )
    learnable = [
        (o, d)
        for o in outcomes
        if (d := decisions.get(o.decision_id)) is not None and d.features and o.action in d.actions
    ]
    if not learnable:
        return
    specs = [s for s in await uow.models.list_all(workspace) if s.kind is ModelKind.BANDIT]
    if not specs:
        return
    action_ids = {o.action: names.parse_action(o.action, "outcome.action").id for o, _ in learnable}
    pairs = {(spec.model_id, action_id) for spec in specs for action_id in action_ids.values()}
    await uow.models.lock_statistics(workspace, sorted(pairs))
    earlier = await uow.outcomes.earlier_types(
        workspace, {(o.decision_id, o.action) for o, _ in learnable}
    )
    stored = await uow.models.statistics_of(
        workspace, pairs, {spec.model_id: spec.dimensions for spec in specs}
    )
    added: dict[tuple[str, str], tuple[ActionStatistics, int]] = {}
    contributions: dict[tuple[str, str], list[tuple[Contribution, np.ndarray]]] = {}
    for outcome, decision in learnable:
        seen = earlier.setdefault((outcome.decision_id, outcome.action), set())
        action_id = action_ids[outcome.action]
        for spec in specs:
            observed = observation(spec, outcome.type, seen)
            if observed is None:
                continue
            exposed, reward = observed
            key = (spec.model_id, action_id)
            x = hashed(restrict_features(decision.features, spec.features), spec.dimensions)
            stats, count = added.get(key) or (_start(stored.get(key), spec), 0)
            stats.add(x, exposed=exposed, reward=reward)
            added[key] = (stats, count + 1)
            contributions.setdefault(key, []).append(
                (
                    contribution_of(
                        outcome, decision.customer, spec, action_id, exposed, reward, now
                    ),
                    x,
                )
            )
        seen.add(outcome.type)
    kept = []
    for key, (stats, count) in sorted(added.items()):
        saved = await uow.models.save_statistics(
            workspace, *key, stats, stored=key in stored, observations=count, now=now
        )
        if saved:  # reset meanwhile: nothing added, nothing to erase later
            kept.extend(contributions[key])
    await uow.models.contributions.add_many(kept)


def _start(stored: ActionStatistics | None, spec: ModelSpec) -> ActionStatistics:
    return stored if stored is not None else ActionStatistics.empty(spec.dimensions)


async def _settle_in(
    uow: DecisioningUnitOfWork, workspace: str, settles: Sequence[_Settle]
) -> None:
    """channel_offer.settle_channel for each status event naming a channel, in the
    batch's transaction: only where a contact is on another channel than one named
    (elsewhere each keep_channel would change nothing), one at a time, in order."""
    if not settles:
        return
    held = await uow.contacts.channels_held(workspace, {s.decision_id for s in settles})
    named: dict[tuple[str, str], set[str]] = {}
    for s in settles:
        named.setdefault((s.decision_id, s.action), set()).add(s.channel.value)
    # keep_channel changes nothing when no contact is held, or only one on the channel
    # every event names.
    moving = {
        key
        for key, channels in named.items()
        if held.get(key) and not (len(channels) == 1 and held[key] == channels)
    }
    for s in settles:
        if (s.decision_id, s.action) in moving:
            await uow.contacts.keep_channel(workspace, s.decision_id, s.action, s.channel)


@dataclass
class _Pending:
    workspace: str
    customer: str
    event: TrackedEvent
    done: asyncio.Future[bool]


class OutcomeRecorder:
    """Group commit of attribution for callers that each hold one event (the JetStream
    consumer: a handler call per message, one per partition at a time). Events handed
    in while a batch is being recorded go into the next one, so batches grow with the
    load and a lone event waits for no timer (it is left to its caller: False)."""

    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps
        self._queue: list[_Pending] = []
        self._recording: asyncio.Task[None] | None = None

    async def record(self, workspace: str, customer: str, event: TrackedEvent) -> bool:
        """True once the event's outcomes are committed with a batch; False when the
        caller is to attribute it alone (it came alone, or its batch failed)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(workspace, customer, event, done))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._drain())
        # Shielded: a caller stopping must not cancel the others' commit.
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            workspace = self._queue[0].workspace
            batch = [p for p in self._queue if p.workspace == workspace][:MAX_BATCH]
            taken = {id(p) for p in batch}
            self._queue = [p for p in self._queue if id(p) not in taken]
            recorded = False
            try:
                if len(batch) > 1:
                    await attribute_events(
                        workspace, [(p.customer, p.event) for p in batch], self._deps
                    )
                    recorded = True
            except Exception as exc:
                log.warning(
                    "batch of outcomes failed: its events are handled one at a time",
                    extra={
                        "workspace": workspace,
                        "count": len(batch),
                        "error_reason": type(exc).__name__,
                    },
                )
            finally:
                # Stopped midway too: each caller then attributes its own (idempotent).
                for p in batch:
                    if not p.done.done():
                        p.done.set_result(recorded)
