"""SimulateDecisions and EvaluatePolicy: read-only runs of a candidate, nothing stored."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapport.decisioning.domain import names
from rapport.decisioning.domain.checks import text
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.evaluation import (
    Evaluation,
    LoggedChoice,
    SimulationSummary,
    evaluate,
    first_choice_probabilities,
)
from rapport.decisioning.domain.model import Decision, ExclusionReason, OutcomeType
from rapport.decisioning.domain.onnx_scoring import ModelScoringError
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.pipeline import DecisionRequest
from rapport.errors import InvalidArgument, NotFound

from . import model_commands as commands
from .commands import UnknownEnumValue
from .decision_making import customer_zone, make_decision
from .decisions import DEFAULT_MAX_ACTIONS, MAX_LABEL_CHARS, MAX_MAX_ACTIONS, dependency_failure
from .dependencies import Dependencies
from .model_cache import restrict_features
from .request_checks import known_channel, served_workspace
from .versions import config_at

MAX_CUSTOMERS = 1000
DEFAULT_SAMPLE = 100
# Profiles and consent asked for this many customers at once.
SIMULATION_CONCURRENCY = 8
DEFAULT_MAX_DECISIONS = 10_000
MAX_MAX_DECISIONS = 50_000
# Posterior draws for a bandit candidate's probability of choosing each action first.
CANDIDATE_DRAWS = 255


@dataclass(frozen=True)
class Simulation:
    config_version: str
    summary: SimulationSummary
    skipped: tuple[str, ...]
    # Every action of the configuration, by name.
    actions: tuple[str, ...]


def _customers(cmd: commands.SimulateDecisions, workspace: str) -> list[str]:
    if bool(cmd.customers) == bool(cmd.segment):
        raise InvalidArgument("customers", "give either customers or a segment (one of them)")
    if len(cmd.customers) > MAX_CUSTOMERS:
        raise InvalidArgument("customers", f"at most {MAX_CUSTOMERS}")
    for index, customer in enumerate(cmd.customers):
        field = f"customers[{index}]"
        names.require_same_workspace(names.parse_customer(customer, field), workspace, field)
    if len(set(cmd.customers)) != len(cmd.customers):
        raise InvalidArgument("customers", "must not repeat a customer")
    return list(cmd.customers)


async def simulate_decisions(cmd: commands.SimulateDecisions, deps: Dependencies) -> Simulation:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    customers = _customers(cmd, workspace)
    if cmd.segment:
        names.require_same_workspace(
            names.parse_segment(cmd.segment, "segment"), workspace, "segment"
        )
    if not 0 <= cmd.sample_size <= MAX_CUSTOMERS:
        raise InvalidArgument("sample_size", f"must be between 0 and {MAX_CUSTOMERS}")
    channel = known_channel(cmd.channel, "channel")
    if not 0 <= cmd.max_actions <= MAX_MAX_ACTIONS:
        raise InvalidArgument("max_actions", f"must be between 0 and {MAX_MAX_ACTIONS}")
    placement = text(cmd.placement, "placement", MAX_LABEL_CHARS)
    device = text(cmd.device, "device", MAX_LABEL_CHARS)
    async with deps.uow(readonly=True) as uow:
        config = await config_at(
            uow, workspace, cmd.config_version, "config_version", default="draft"
        )
    if cmd.segment:
        try:
            customers = await deps.profile.segment_members(
                cmd.segment, cmd.sample_size or DEFAULT_SAMPLE
            )
        except DependencyError as err:
            if err.code == "NOT_FOUND":
                raise NotFound(cmd.segment) from err
            raise dependency_failure(err) from err

    summary = SimulationSummary()
    skipped: list[str] = []
    gate = asyncio.Semaphore(SIMULATION_CONCURRENCY)

    async def one(customer: str) -> Decision | None:
        async with gate:
            profile = await deps.profile.get_profile(customer)
            if profile is None:
                return None
            request = DecisionRequest(
                customer=customer,
                context=cmd.context,
                requested_channel=channel,
                max_actions=cmd.max_actions or DEFAULT_MAX_ACTIONS,
                now=deps.clock(),
                zone=customer_zone(deps, profile),
                placement=placement,
                device=device,
            )
            return await make_decision(
                deps, workspace, config, profile, request, decision_id=uuid.uuid4().hex, store=False
            )

    try:
        decisions = await asyncio.gather(*(one(c) for c in customers))
    except DependencyError as err:
        raise dependency_failure(err) from err
    for customer, decision in zip(customers, decisions, strict=True):
        if decision is None:
            skipped.append(customer)
        else:
            summary.add(decision)
    return Simulation(
        config_version=names.version_name(workspace, config.version) if config.version else "",
        summary=summary,
        skipped=tuple(skipped),
        actions=tuple(sorted(a.name for a in config.actions)),
    )


# -- off-policy evaluation ----------------------------------------------------------------


def _logged_choice(
    decision: Decision, rewarded: set[tuple[str, str]], live: DecisionConfig
) -> LoggedChoice | None:
    if not decision.actions or not 0 < decision.actions[0].probability <= 1:
        return None
    considered = [(r.action, r.score) for r in decision.actions] + [
        (e.action, e.score)
        for e in decision.excluded
        if e.reason is ExclusionReason.OUTRANKED and e.score is not None
    ]
    ids = []
    for action, _ in considered:
        action_id = action.rsplit("/", 1)[-1]
        if live.action(action_id) is None:
            return None
        ids.append(action_id)
    first = decision.actions[0]
    return LoggedChoice(
        decision_id=decision.decision_id,
        features=decision.features,
        considered=tuple(ids),
        multipliers=tuple(s.context_weight * s.value * s.lever for _, s in considered),
        chosen=first.action.rsplit("/", 1)[-1],
        probability=first.probability,
        reward=1.0 if (decision.decision_id, first.action) in rewarded else 0.0,
    )


async def evaluate_policy(
    cmd: commands.EvaluatePolicy, deps: Dependencies
) -> tuple[Evaluation, int]:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    if not cmd.model:
        raise InvalidArgument("model", "is required")
    model_id = names.require_same_workspace(
        names.parse_model(cmd.model, "model"), workspace, "model"
    ).id
    if cmd.start_time is None:
        raise InvalidArgument("start_time", "is required")
    end = cmd.end_time or deps.clock()
    if end <= cmd.start_time:
        raise InvalidArgument("end_time", "must be after start_time")
    reward = _reward(cmd.reward_outcome)
    if not 0 <= cmd.max_decisions <= MAX_MAX_DECISIONS:
        raise InvalidArgument("max_decisions", f"must be between 0 and {MAX_MAX_DECISIONS}")
    limit = cmd.max_decisions or DEFAULT_MAX_DECISIONS
    models = await deps.models.get(workspace)
    candidate = next(
        (
            m
            for m in (models.active, *models.shadows)
            if m is not None and m.spec.model_id == model_id
        ),
        None,
    )
    if candidate is None:
        raise NotFound(cmd.model)
    live = await deps.live.get(workspace)
    async with deps.uow(readonly=True) as uow:
        decisions = await uow.models.logged_decisions(workspace, cmd.start_time, end, limit)
        rewarded = await uow.models.rewarded(workspace, [d.decision_id for d in decisions], reward)
    choices = []
    for decision in decisions:
        choice = _logged_choice(decision, rewarded, live)
        if choice is not None:
            choices.append(choice)
    rng = np.random.default_rng(0)

    def target(choice: LoggedChoice) -> np.ndarray:
        actions = [live.action(a) for a in choice.considered]
        own = restrict_features(choice.features, candidate.spec.features)
        multipliers = np.asarray(choice.multipliers, dtype=float)
        try:
            scores = candidate.score_actions(actions, own, rng)  # type: ignore[arg-type]
        except ModelScoringError:
            return np.full(len(actions), 1.0 / len(actions))
        samples = scores.samples[:CANDIDATE_DRAWS] if scores.samples is not None else None
        return first_choice_probabilities(scores.propensity, samples, multipliers)

    return evaluate(choices, target), len(decisions) - len(choices)


def _reward(value: Any) -> OutcomeType:
    if value is None:
        return OutcomeType.CONVERSION
    if isinstance(value, UnknownEnumValue) or not isinstance(value, OutcomeType):
        raise InvalidArgument("reward_outcome", "is not a known outcome type")
    return value
