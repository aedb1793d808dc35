"""Making and storing one decision, the same for Decide and triggers: the pipeline's steps
with the I/O they need (outcomes, contact history, consent), then the decision stored
with its contacts so that no contact limit is ever exceeded, across replicas too.

Contacts live in the database (rows read under a per-customer advisory lock, in the
transaction that stores the decision) or, with Redis configured, in Redis (checked
and added by one script; a lost race re-decides on the fresh history).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rapport.decisioning.domain.arbitration import ConsentPair, consent_pairs
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.contact_policy import Contact, PastOutcome
from rapport.decisioning.domain.model import Decision, ShadowScore
from rapport.decisioning.domain.outbound import ConsentQuery, CustomerProfile
from rapport.decisioning.domain.pipeline import (
    DecisionPipeline,
    DecisionRequest,
    Verdict,
    context_variable,
)
from rapport.decisioning.domain.trigger_activity import TriggerActivity
from rapport.errors import Aborted
from rapport.sqlstore import run_with_retries

from .dependencies import Dependencies
from .erasure_guard import refusal
from .model_cache import BoundModels
from .unit_of_work import DecisioningUnitOfWork

# Reservations in Redis lost to another replica before giving up (each retry re-decides).
RESERVE_ATTEMPTS = 5


def customer_zone(deps: Dependencies, profile: CustomerProfile) -> ZoneInfo:
    """The customer's clock for a decision's context (local time, date helpers): the zone
    the `time_zone_trait` setting's trait names, else `default_time_zone` (else UTC); the
    same clock time-window triggers fire on."""
    return deps.window_timing.customer_zone(profile.traits)


def triggered_decision_id(trigger_id: str, customer: str, message_id: str) -> str:
    """The same for a replayed signal, so a replay finds the decision already made."""
    digest = hashlib.sha256(f"{trigger_id}\x1f{customer}\x1f{message_id}".encode())
    return digest.hexdigest()[:32]


async def _outcomes(
    deps: Dependencies, workspace: str, request: DecisionRequest, config: DecisionConfig
) -> list[PastOutcome]:
    since = request.now - config.settings.outcome_lookback
    async with deps.uow(readonly=True) as uow:
        rows = await uow.outcomes.for_customer(workspace, request.customer, since)
    return [PastOutcome(o.action, o.type, o.outcome_time) for o in rows]


async def _history(
    deps: Dependencies, workspace: str, customer: str, since: datetime
) -> list[Contact]:
    if deps.contact_store is not None:
        return await deps.contact_store.history(workspace, customer, since)
    async with deps.uow(readonly=True) as uow:
        return await uow.contacts.since(workspace, customer, since)


async def consent_answers(
    deps: Dependencies, workspace: str, customer: str, pairs: Sequence[ConsentPair]
) -> dict[ConsentPair, bool]:
    """Consent's answers for (purpose, channel) pairs, in one batched call."""
    queries = [ConsentQuery(customer, purpose, channel) for purpose, channel in pairs]
    answers = await deps.consent.batch_check(workspace, queries)
    return dict(zip(pairs, answers, strict=True))


async def _consent(
    deps: Dependencies,
    workspace: str,
    customer: str,
    pairs: Sequence[ConsentPair],
    prefetched: Awaitable[dict[ConsentPair, bool]] | None,
) -> dict[ConsentPair, bool]:
    if not pairs:
        return {}
    if prefetched is not None:
        # Asked while the profile was fetched, for every pair the configuration could
        # need: the candidates' pairs are among them.
        answers = await prefetched
        if all(pair in answers for pair in pairs):
            return {pair: answers[pair] for pair in pairs}
    return await consent_answers(deps, workspace, customer, pairs)


def _shadow_of(models: BoundModels | None, final: Verdict) -> tuple[ShadowScore, ...]:
    """The shadow models' scores of the returned actions."""
    if models is None:
        return ()
    returned = {r.action for r in final.ranked}
    return tuple(s for s in models.shadow_scores if s.action in returned)


async def _add_activity(
    uow: DecisioningUnitOfWork,
    activity: Callable[[Decision], TriggerActivity | None] | None,
    decision: Decision,
) -> None:
    """The decision's insert refused an erased customer already: no check more."""
    settled = activity(decision) if activity is not None else None
    if settled is not None:
        await uow.trigger_activities.add_if_absent(settled)


async def make_decision(
    deps: Dependencies,
    workspace: str,
    config: DecisionConfig,
    profile: CustomerProfile,
    request: DecisionRequest,
    *,
    decision_id: str,
    source: str = "",
    store: bool = True,
    prefetched_consent: Awaitable[dict[ConsentPair, bool]] | None = None,
    activity: Callable[[Decision], TriggerActivity | None] | None = None,
) -> Decision:
    """Decide and store; DependencyError from consent (or Redis) propagates. A decision
    stored under `decision_id` already (a replayed trigger) is returned as it is.
    `store=False` (a simulation): the decision only, nothing stored or counted.
    `prefetched_consent`: consent's answers asked for ahead (see `configured_pairs`),
    awaited only when a candidate needs consent. `activity` (a trigger's decision): the
    trigger activity the decision settles, if any, stored in the decision's transaction."""
    running = await deps.experiments.get(workspace)
    # The scoring step's models, bound to this decision (features, seeded draws).
    models = (await deps.models.get(workspace)).bind(
        profile.rule_variable(), context_variable(request), decision_id
    )
    model = models if models is not None else deps.model
    pipeline = DecisionPipeline(config, request, profile, deps.rules, model, running)
    outcomes = await _outcomes(deps, workspace, request, config) if pipeline.needs_outcomes else []
    since = request.now - config.settings.contact_lookback
    customer = request.customer
    contacts = await _history(deps, workspace, customer, since) if pipeline.needs_contacts else []
    restricted = pipeline.restrict(contacts, outcomes)
    consent = await _consent(
        deps, workspace, customer, consent_pairs(restricted.candidates), prefetched_consent
    )
    verdict = pipeline.conclude(restricted, consent, contacts, decision_id)

    def decision_of(final: Verdict) -> Decision:
        assignment = final.assignment
        return Decision(
            decision_id=decision_id,
            workspace=workspace,
            customer=customer,
            actions=final.ranked,
            excluded=final.excluded,
            channel=request.requested_channel,
            source=source,
            create_time=request.now,
            config_version=config.version,
            experiment_id=assignment.experiment.experiment_id if assignment else "",
            arm_id=assignment.arm.arm_id if assignment else "",
            control=assignment.control if assignment else False,
            model=models.model_name if models is not None and models.used else "",
            features=models.features if models is not None else {},
            shadow_scores=_shadow_of(models, final),
        )

    if not store:
        return decision_of(verdict)

    if deps.contact_store is None and not source and not pipeline.needs_contacts:
        # Decide (a fresh id) with no contact limit in play: nothing to re-check under a
        # lock, so the record joins the writer's next group commit.
        decision = decision_of(verdict)
        await deps.decision_writer.write(decision, verdict.contacts)
        return decision

    if deps.contact_store is None:

        async def store(uow: DecisioningUnitOfWork) -> Decision:
            existing = await uow.decisions.get(workspace, decision_id)
            if existing is not None:
                return existing
            final = verdict
            if final.contacts and pipeline.needs_contacts:
                # A limit may hold: decide again on the history read under the lock.
                await uow.contacts.lock_customer(workspace, customer)
                fresh = await uow.contacts.since(workspace, customer, since)
                final = pipeline.run(fresh, outcomes, consent, decision_id)
            if final.contacts:
                await uow.contacts.add(workspace, customer, final.contacts)
            decision = decision_of(final)
            await uow.decisions.add(decision)
            await _add_activity(uow, activity, decision)
            return decision

        try:
            return await run_with_retries(
                deps.uow, store, description="the customer's contacts kept changing; retry"
            )
        except Exception as err:
            refused = await refusal(deps.uow, workspace, customer, err)
            if refused is err:
                raise
            raise refused from err

    limits = config.settings.contact_limits
    for _ in range(RESERVE_ATTEMPTS):
        if not verdict.contacts or await deps.contact_store.reserve(
            workspace, customer, verdict.contacts, limits, request.now
        ):
            decision = decision_of(verdict)
            try:
                async with deps.uow() as uow:
                    existing = await uow.decisions.get(workspace, decision_id)
                    if existing is not None:
                        return existing
                    await uow.decisions.add(decision)
                    await _add_activity(uow, activity, decision)
                    await uow.commit()
            except Exception as err:
                refused = await refusal(deps.uow, workspace, customer, err)
                if refused is err:
                    raise
                # Erased meanwhile: the contacts just reserved go too (the erasure's
                # own forgetting may have come before the reservation).
                await deps.contact_store.forget(workspace, customer)
                raise refused from err
            return decision
        fresh = await deps.contact_store.history(workspace, customer, since)
        verdict = pipeline.run(fresh, outcomes, consent, decision_id)
    raise Aborted("CONTACT_CONTENTION", "the customer's contacts kept changing; retry")
