"""Off-policy evaluation of a candidate model over logged decisions, and the summary of a
simulation.

A logged decision: the features the models saw, the actions it considered (ranked or
outranked, each with the multiplier context weight × value × lever it had), the
first action returned and the probability it had of coming first (logged by the
scoring step), and the reward observed for it.

For a candidate π and logging probabilities μ, over n logged decisions:
- inverse propensity: mean of π(a_i|x_i) / μ_i · r_i;
- doubly robust: mean of Σ_a π(a|x_i) q̂(x_i, a) + π(a_i|x_i) / μ_i · (r_i − q̂(x_i, a_i)),
  q̂ a ridge regression of the reward per action on the hashed features, fitted on
  the other half of the decisions (two folds, by decision id);
each with a 95% interval mean ± 1.96 · sd / √n.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .features import hashed
from .learning import ActionStatistics, posterior
from .model import Decision

Z_95 = 1.959963984540054
REWARD_MODEL_DIMENSIONS = 64


@dataclass(frozen=True)
class LoggedChoice:
    decision_id: str
    features: Mapping[str, float]
    # Action ids considered, and the multiplier of the propensity in their priority.
    considered: tuple[str, ...]
    multipliers: tuple[float, ...]
    chosen: str
    probability: float
    reward: float


@dataclass(frozen=True)
class Estimate:
    value: float
    standard_error: float
    lower: float
    upper: float

    @classmethod
    def of(cls, values: np.ndarray) -> Estimate:
        if values.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0)
        mean = float(values.mean())
        error = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
        return cls(mean, error, mean - Z_95 * error, mean + Z_95 * error)


@dataclass(frozen=True)
class Evaluation:
    decision_count: int
    logged: Estimate
    inverse_propensity: Estimate
    doubly_robust: Estimate
    effective_sample_size: float
    agreement: float


# The candidate's probability of choosing each considered action first.
TargetPolicy = Callable[[LoggedChoice], np.ndarray]


def _fold(decision_id: str) -> int:
    return hashlib.blake2b(decision_id.encode(), digest_size=1).digest()[0] & 1


def _reward_models(choices: Sequence[LoggedChoice]) -> list[dict[str, np.ndarray]]:
    """Per fold, per action: ridge weights fitted on the *other* fold."""
    stats: list[dict[str, ActionStatistics]] = [{}, {}]
    for choice in choices:
        fold = stats[_fold(choice.decision_id)]
        item = fold.setdefault(choice.chosen, ActionStatistics.empty(REWARD_MODEL_DIMENSIONS))
        x = hashed(choice.features, REWARD_MODEL_DIMENSIONS)
        item.add(x, exposed=True, reward=choice.reward)
    weights: list[dict[str, np.ndarray]] = [{}, {}]
    for fold in (0, 1):
        for action, item in stats[1 - fold].items():
            weights[fold][action] = posterior(item, 0.0, 1.0).mean
    return weights


def evaluate(choices: Sequence[LoggedChoice], target: TargetPolicy) -> Evaluation:
    if not choices:
        empty = Estimate(0.0, 0.0, 0.0, 0.0)
        return Evaluation(0, empty, empty, empty, 0.0, 0.0)
    models = _reward_models(choices)
    logged, ips, dr, weights, agreement = [], [], [], [], []
    for choice in choices:
        pi = target(choice)
        chosen = choice.considered.index(choice.chosen)
        weight = float(pi[chosen]) / choice.probability
        x = hashed(choice.features, REWARD_MODEL_DIMENSIONS)
        fold = models[_fold(choice.decision_id)]
        predicted = np.array(
            [float(np.clip(x @ fold[a], 0.0, 1.0)) if a in fold else 0.0 for a in choice.considered]
        )
        logged.append(choice.reward)
        ips.append(weight * choice.reward)
        dr.append(float(pi @ predicted) + weight * (choice.reward - predicted[chosen]))
        weights.append(weight)
        agreement.append(float(pi[chosen]))
    w = np.array(weights)
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
    return Evaluation(
        decision_count=len(choices),
        logged=Estimate.of(np.array(logged)),
        inverse_propensity=Estimate.of(np.array(ips)),
        doubly_robust=Estimate.of(np.array(dr)),
        effective_sample_size=ess,
        agreement=float(np.mean(agreement)),
    )


def first_choice_probabilities(
    acted: np.ndarray, samples: np.ndarray | None, multipliers: np.ndarray
) -> np.ndarray:
    """The probability of each action coming first by propensity × multiplier: the share
    of draws it wins (ties to the first), or 1 for the best of a deterministic model."""
    draws = acted[None, :] if samples is None else np.vstack([acted[None, :], samples])
    winners = np.argmax(draws * multipliers[None, :], axis=1)
    return np.bincount(winners, minlength=len(acted)) / draws.shape[0]


# -- simulation ------------------------------------------------------------------------


@dataclass
class SimulationSummary:
    customer_count: int = 0
    reached_count: int = 0
    chosen: Counter[str] | None = None
    first: Counter[str] | None = None
    # channel value -> (customers, actions)
    channel_customers: Counter[str] | None = None
    channel_actions: Counter[str] | None = None
    exclusions: Counter[str] | None = None

    def __post_init__(self) -> None:
        self.chosen = Counter()
        self.first = Counter()
        self.channel_customers = Counter()
        self.channel_actions = Counter()
        self.exclusions = Counter()

    def add(self, decision: Decision) -> None:
        assert self.chosen is not None and self.first is not None
        assert self.channel_customers is not None and self.channel_actions is not None
        assert self.exclusions is not None
        self.customer_count += 1
        if decision.actions:
            self.reached_count += 1
            self.first[decision.actions[0].action] += 1
        for ranked in decision.actions:
            self.chosen[ranked.action] += 1
            self.channel_actions[ranked.channel.value] += 1
        for channel in {r.channel.value for r in decision.actions}:
            self.channel_customers[channel] += 1
        for excluded in decision.excluded:
            self.exclusions[str(excluded.reason.value)] += 1
