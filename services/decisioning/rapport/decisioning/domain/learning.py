"""Models that score propensities: the built-in online contextual bandit.

Features. A model declares where its features come from (`traits.plan`,
`computed_traits`, `context.placement`, `segments`, `life_stage`...). Each decision
turns those values into named features: a text, boolean or list item becomes
`source=value` with value 1, a finite number becomes `source` with a signed
log1p of the number. The names are hashed (feature hashing, `dimensions` slots
with a sign bit) into the model's vector x, plus a bias slot.

Bandit. One Bayesian linear regression per action over x, on the residual of the
reward against the action's base propensity, with prior θ ~ N(0, I/λ): after
observations (x_i, r_i) the posterior is N(μ, v²P⁻¹) with P = λI + Σ x xᵀ and
μ = P⁻¹ Σ (r - base) x. The sufficient statistics (Σ x xᵀ, Σ r x, Σ x, n) only add
up, so replicas that each add their observations in the database converge, and
the order of updates does not matter. Thompson sampling: for a context x the
sampled propensity of an action is base + xᵀθ with θ drawn from the posterior,
which is exactly base + xᵀμ + v·sqrt(xᵀP⁻¹x)·z with z ~ N(0, 1): one normal draw
per action, vectorised over the candidates. The probability that an action gets
its position in the priority order is estimated over further draws.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from rapport.errors import InvalidArgument

from . import names
from .checks import finite, text, validate_resource_id
from .features import (
    hashed,
    named_features,
    validate_feature_source,
    validate_onnx_column,
)
from .model import Action, OutcomeType

MIN_DIMENSIONS = 4
MAX_DIMENSIONS = 256
DEFAULT_DIMENSIONS = 64
MAX_FEATURE_SOURCES = 100
MAX_ONNX_BYTES = 3 * 1024 * 1024
DEFAULT_EXPLORATION = 0.25
DEFAULT_PRIOR_PRECISION = 1.0
# Draws used to estimate the probability of each position (besides the one acted on).
PROBABILITY_DRAWS = 127


class ModelKind(enum.Enum):
    BANDIT = "bandit"
    # Trained elsewhere, scored with onnxruntime over declared input columns.
    ONNX = "onnx"


class ModelMode(enum.Enum):
    # Its propensities drive the decisions (one active model per workspace).
    ACTIVE = "active"
    # Scored and recorded with each decision, never affecting it.
    SHADOW = "shadow"


# Outcomes that count as showing the action without reward.
EXPOSURE_OUTCOMES = frozenset({OutcomeType.IMPRESSION, OutcomeType.REJECT})


@dataclass(frozen=True)
class ModelSpec:
    workspace: str
    model_id: str
    kind: ModelKind
    mode: ModelMode
    display_name: str = ""
    description: str = ""
    features: tuple[str, ...] = ()
    dimensions: int = DEFAULT_DIMENSIONS
    exploration: float = DEFAULT_EXPLORATION
    prior_precision: float = DEFAULT_PRIOR_PRECISION
    reward_outcome: OutcomeType = OutcomeType.CONVERSION
    create_time: datetime | None = None
    update_time: datetime | None = None
    # ONNX: the serialized model (loaded apart from the spec) and its SHA-256.
    onnx_model: bytes = field(default=b"", repr=False)
    onnx_sha256: str = ""
    # Bumped by every change of the spec.
    revision: int = 0

    @property
    def name(self) -> str:
        return names.model_name(self.workspace, self.model_id)

    @property
    def learning_signature(self) -> tuple[Any, ...]:
        """What the statistics depend on: changing any of it starts learning afresh."""
        return (self.kind, self.features, self.dimensions)


def validate_spec(spec: ModelSpec, prefix: str = "model") -> ModelSpec:
    """The spec with its text checked; InvalidArgument naming the field otherwise (the
    ONNX model itself is checked by the service layer, which can load it)."""
    validate_resource_id(spec.model_id, "model_id")
    text(spec.display_name, f"{prefix}.display_name", 256)
    text(spec.description, f"{prefix}.description", 4096)
    if len(spec.features) > MAX_FEATURE_SOURCES:
        raise InvalidArgument(f"{prefix}.features", f"at most {MAX_FEATURE_SOURCES} sources")
    onnx = spec.kind is ModelKind.ONNX
    for index, source in enumerate(spec.features):
        check = validate_onnx_column if onnx else validate_feature_source
        check(source, f"{prefix}.features[{index}]")
    if onnx and not spec.features:
        raise InvalidArgument(f"{prefix}.features", "an ONNX model needs its input columns")
    if onnx and not 0 < len(spec.onnx_model) <= MAX_ONNX_BYTES:
        raise InvalidArgument(
            f"{prefix}.onnx_model", f"an ONNX model of 1 to {MAX_ONNX_BYTES} bytes is required"
        )
    if not onnx and spec.onnx_model:
        raise InvalidArgument(f"{prefix}.onnx_model", "only an ONNX model has one")
    if len(set(spec.features)) != len(spec.features):
        raise InvalidArgument(f"{prefix}.features", "must not repeat a source")
    if not MIN_DIMENSIONS <= spec.dimensions <= MAX_DIMENSIONS:
        raise InvalidArgument(
            f"{prefix}.dimensions", f"must be between {MIN_DIMENSIONS} and {MAX_DIMENSIONS}"
        )
    exploration = finite(spec.exploration, f"{prefix}.exploration")
    if not 0 <= exploration <= 100:
        raise InvalidArgument(f"{prefix}.exploration", "must be between 0 and 100")
    precision = finite(spec.prior_precision, f"{prefix}.prior_precision")
    if not 1e-6 <= precision <= 1e6:
        raise InvalidArgument(f"{prefix}.prior_precision", "must be between 1e-6 and 1e6")
    if spec.reward_outcome in EXPOSURE_OUTCOMES:
        raise InvalidArgument(f"{prefix}.reward_outcome", "must be an outcome that rewards")
    return spec


# -- the bandit ------------------------------------------------------------------------


@dataclass
class ActionStatistics:
    """Sufficient statistics of one action: they add up across observations."""

    xtx: np.ndarray  # Σ x xᵀ
    xr: np.ndarray  # Σ r x
    xsum: np.ndarray  # Σ x
    count: int = 0

    @classmethod
    def empty(cls, dimensions: int) -> ActionStatistics:
        return cls(np.zeros((dimensions, dimensions)), np.zeros(dimensions), np.zeros(dimensions))

    def add(self, x: np.ndarray, *, exposed: bool, reward: float) -> None:
        if exposed:
            self.xtx += np.outer(x, x)
            self.xsum += x
            self.count += 1
        if reward:
            self.xr += reward * x

    def plus(self, other: ActionStatistics) -> ActionStatistics:
        return ActionStatistics(
            self.xtx + other.xtx, self.xr + other.xr, self.xsum + other.xsum,
            self.count + other.count,
        )  # fmt: skip


@dataclass(frozen=True)
class Posterior:
    mean: np.ndarray  # (D,) weights on the residual
    covariance: np.ndarray  # (D, D) P⁻¹


def posterior(stats: ActionStatistics, base: float, prior_precision: float) -> Posterior:
    dims = stats.xtx.shape[0]
    precision = stats.xtx + prior_precision * np.eye(dims)
    covariance = np.linalg.inv(precision)
    residual = stats.xr - base * stats.xsum
    return Posterior(covariance @ residual, covariance)


@dataclass(frozen=True)
class BanditScores:
    # The propensity acted on (one posterior draw), per action.
    propensity: np.ndarray
    # Further draws, shape (draws, actions), for the probabilities of positions; None
    # for a deterministic model.
    samples: np.ndarray | None
    # The posterior mean propensity per action (what a shadow model reports).
    mean: np.ndarray


@dataclass
class LinearThompsonBandit:
    """A trained-so-far bandit: per action posterior, from the sufficient statistics."""

    spec: ModelSpec
    statistics: dict[str, ActionStatistics] = field(default_factory=dict)
    _posteriors: dict[tuple[str, float], Posterior] = field(default_factory=dict, repr=False)
    # The posteriors of one candidate list stacked (means, covariances): most decisions
    # of a workspace score the same candidates.
    _stacked: dict[tuple[tuple[str, ...], tuple[float, ...]], tuple[np.ndarray, np.ndarray]] = (
        field(default_factory=dict, repr=False)
    )

    def _posterior(self, action: str, base: float) -> Posterior:
        key = (action, base)
        found = self._posteriors.get(key)
        if found is None:
            stats = self.statistics.get(action)
            if stats is None:
                dims = self.spec.dimensions
                found = Posterior(np.zeros(dims), np.eye(dims) / self.spec.prior_precision)
            else:
                found = posterior(stats, base, self.spec.prior_precision)
            self._posteriors[key] = found
        return found

    def observe(
        self, action: str, features: Mapping[str, float], *, exposed: bool, reward: float
    ) -> None:
        """Learn from one observation in this process (the service adds observations in
        the database instead, and every replica reloads the sums)."""
        dims = self.spec.dimensions
        stats = self.statistics.setdefault(action, ActionStatistics.empty(dims))
        stats.add(hashed(features, dims), exposed=exposed, reward=reward)
        for key in [k for k in self._posteriors if k[0] == action]:
            del self._posteriors[key]
        self._stacked.clear()

    def _stack(
        self, actions: tuple[str, ...], bases: tuple[float, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (actions, bases)
        found = self._stacked.get(key)
        if found is None:
            dims = self.spec.dimensions
            posteriors = [self._posterior(a, b) for a, b in zip(actions, bases, strict=True)]
            means = np.array([p.mean for p in posteriors]).reshape(len(actions), dims)
            covs = np.array([p.covariance for p in posteriors]).reshape(len(actions), dims, dims)
            if len(self._stacked) >= 64:
                self._stacked.clear()
            found = self._stacked[key] = (means, covs)
        return found

    def features(self, profile: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, float]:
        return named_features(self.spec.features, profile, context)

    def score_actions(
        self, actions: Sequence[Action], features: Mapping[str, float], rng: np.random.Generator
    ) -> BanditScores:
        ids = [a.action_id for a in actions]
        return self.score(ids, [a.base_propensity for a in actions], features, rng)

    def score(
        self,
        actions: Sequence[str],
        bases: Sequence[float],
        features: Mapping[str, float],
        rng: np.random.Generator,
        draws: int = PROBABILITY_DRAWS,
    ) -> BanditScores:
        x = hashed(features, self.spec.dimensions)
        means, covs = self._stack(tuple(actions), tuple(bases))
        base = np.asarray(bases, dtype=float)
        # x has a few non-zero slots (one per feature): xᵀΣx over those only, not the
        # whole (actions, dims, dims) stack.
        slots = np.flatnonzero(x)
        xs = x[slots]
        mean = base + means[:, slots] @ xs
        quadratic = (covs[:, slots[:, None], slots] @ xs) @ xs
        spread = self.spec.exploration * np.sqrt(np.maximum(quadratic, 0))
        z = rng.standard_normal((draws + 1, len(actions)))
        sampled = np.clip(mean + spread * z, 0.0, 1.0)
        return BanditScores(sampled[0], sampled[1:], np.clip(mean, 0.0, 1.0))


def position_probabilities(
    acted: np.ndarray, samples: np.ndarray, multipliers: np.ndarray, order_keys: Sequence[str]
) -> np.ndarray:
    """For each action, the share of draws (the acted one included) in which it holds the
    position it holds in the acted draw's priority order (ties by `order_keys`)."""
    count = len(order_keys)
    if count == 0:
        return np.zeros(0)
    by_name = np.array(sorted(range(count), key=order_keys.__getitem__), dtype=np.intp)
    draws = np.vstack([acted[None, :], samples]) * multipliers[None, :]
    ordered = draws[:, by_name]
    order = np.argsort(-ordered, axis=1, kind="stable")
    # order[d, p]: the action (by_name index) at position p of draw d. An action holds
    # its acted position p in draw d when order[d, p] is that same action.
    held = (order == order[0][None, :]).mean(axis=0)
    result = np.empty(count)
    # The action at position p of the acted draw is by_name[order[0, p]].
    result[by_name[order[0]]] = held
    return result


class PositionChances:
    """`position_probabilities`, one action at a time and only when asked: a decision
    needs the chances of the few actions it ranks, not of every candidate (the full
    sort of every draw costs more than counting, per ranked action, who beats it)."""

    def __init__(
        self,
        acted: np.ndarray,
        samples: np.ndarray,
        multipliers: np.ndarray,
        order_keys: Sequence[str],
    ) -> None:
        self._acted = acted
        self._samples = samples
        self._multipliers = multipliers
        self._keys = order_keys
        self._draws: np.ndarray | None = None
        self._name_rank: np.ndarray | None = None
        self._all: np.ndarray | None = None
        self._found: dict[int, float] = {}

    def of(self, index: int) -> float:
        """The chance of the action at `index` (of `order_keys`) holding its position."""
        found = self._found.get(index)
        if found is None:
            # A Python float: stored as JSON, where a numpy scalar costs a slower encoder.
            found = self._found[index] = float(self._count(index))
        return found

    def _count(self, index: int) -> float:
        if self._all is not None:
            return float(self._all[index])
        by_action = self._draws
        if by_action is None:
            draws = np.vstack([self._acted[None, :], self._samples]) * self._multipliers[None, :]
            if not np.isfinite(draws).all():
                # NaN has no place in an order by comparison: the sort decides it.
                self._all = position_probabilities(
                    self._acted, self._samples, self._multipliers, self._keys
                )
                return float(self._all[index])
            # One row per action (contiguous): each comparison below runs along a row.
            by_action = self._draws = np.ascontiguousarray(draws.T)
        # The position of the action in each draw: the actions with a higher priority,
        # plus those tied with it that come first by name (the sort's tie-break).
        own = by_action[index]
        # Counted as int8 (a bool array's bytes are 0 or 1; the sum is int64): several
        # times faster than summing the bools themselves.
        positions = (by_action > own).view(np.int8).sum(axis=0)
        equal = by_action == own
        # Each draw equals itself once; more means ties (rare with sampled draws).
        if np.count_nonzero(equal) > len(own):
            name_rank = self._names_ranked()
            tied_first = name_rank < name_rank[index]
            positions += (equal & tied_first[:, None]).sum(axis=0)
        return np.count_nonzero(positions == positions[0]) / len(positions)

    def _names_ranked(self) -> np.ndarray:
        """Each action's place in the order of the keys (only ties need it)."""
        if self._name_rank is None:
            count = len(self._keys)
            self._name_rank = np.empty(count, dtype=np.intp)
            self._name_rank[sorted(range(count), key=self._keys.__getitem__)] = np.arange(count)
        return self._name_rank
