"""The models each process keeps, and the scoring step they give each decision.

Scoring never reads the database: each process keeps every workspace's models with
their posteriors, trusts them for `refresh_seconds`, then one cheap query (counts and
revision sums) tells whether any model or statistic changed; only then are they
reloaded. The process that records an outcome or changes a model forgets its copy at
once; the other replicas follow within `refresh_seconds`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapport.decisioning.adapters.onnx_predictor import OnnxPredictor
from rapport.decisioning.domain.arbitration import Propensities
from rapport.decisioning.domain.features import BIAS_FEATURE
from rapport.decisioning.domain.learning import (
    BanditScores,
    LinearThompsonBandit,
    ModelKind,
    ModelMode,
    ModelSpec,
)
from rapport.decisioning.domain.model import Action, ShadowScore
from rapport.decisioning.domain.onnx_scoring import (
    ModelScoringError,
    OnnxScoringModel,
    PropensityPredictor,
    ScoringModel,
)

from .per_workspace import PerWorkspace
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

# -- the cache ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceModels:
    active: ScoringModel | None = None
    shadows: tuple[ScoringModel, ...] = ()

    @property
    def empty(self) -> bool:
        return self.active is None and not self.shadows

    def bind(
        self, profile: Mapping[str, Any], context: Mapping[str, Any], decision_id: str
    ) -> BoundModels | None:
        """The scoring step for one decision; None when no model is there."""
        if self.empty:
            return None
        features: dict[str, float] = {}
        for model in (self.active, *self.shadows):
            if model is not None:
                features.update(model.features(profile, context))
        return BoundModels(self, features, decision_id)


def _log_failure(model: ScoringModel, err: ModelScoringError) -> None:
    log.warning(
        "model failed to score; base propensities used",
        extra={"model": model.spec.name, "error_reason": str(err)[:200]},
    )


def _seed(decision_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(decision_id.encode(), digest_size=8).digest(), "little")


class BoundModels:
    """A decision's models: the active one's sampled propensities (the same draws every
    time the step runs for this decision), the shadow models' mean propensities."""

    def __init__(self, models: WorkspaceModels, features: dict[str, float], decision_id: str):
        self._models = models
        self.features = features
        self._seed = _seed(decision_id)
        self.shadow_scores: tuple[ShadowScore, ...] = ()
        # Whether the active model's propensities were used (an experiment arm may rank
        # by rules only or at random instead).
        self.used = False

    @property
    def model_name(self) -> str:
        return self._models.active.spec.name if self._models.active is not None else ""

    def _score(self, model: ScoringModel, actions: Sequence[Action]) -> BanditScores:
        own = restrict_features(self.features, model.spec.features)
        # default_rng(seed) is this same generator, built without its argument checks
        # (half its cost, once per model and decision).
        rng = np.random.Generator(np.random.PCG64(self._seed))
        return model.score_actions(actions, own, rng)

    def propensities(self, actions: Sequence[Action]) -> Propensities:
        bases = [a.base_propensity for a in actions]
        if not actions:
            self.shadow_scores = ()
            return Propensities(bases, "base propensity")
        shadows = []
        for model in self._models.shadows:
            try:
                scores = self._score(model, actions)
            except ModelScoringError as err:
                _log_failure(model, err)
                continue
            shadows.extend(
                ShadowScore(model.spec.name, action.name, float(p))
                for action, p in zip(actions, scores.mean, strict=True)
            )
        self.shadow_scores = tuple(shadows)
        active = self._models.active
        if active is None:
            return Propensities(bases, "base propensity")
        try:
            scores = self._score(active, actions)
        except ModelScoringError as err:
            _log_failure(active, err)
            return Propensities(bases, f"base propensity (model {active.spec.model_id} failed)")
        if isinstance(active, LinearThompsonBandit):
            source = f"a Thompson draw of model {active.spec.model_id}"
        else:
            source = f"ONNX model {active.spec.model_id}"
        self.used = True
        return Propensities(scores.propensity, source, scores.samples)

    def propensity(self, action: Action) -> tuple[float, str]:
        result = self.propensities([action])
        return float(result.values[0]), result.source


@functools.lru_cache(maxsize=1024)
def _matcher(sources: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """A model's sources as (names, prefixes of their named features): built once per
    set of sources, not per feature and decision."""
    prefixes = tuple(f"{source}{mark}" for source in sources for mark in ("=", "."))
    return frozenset(sources), prefixes


def restrict_features(features: Mapping[str, float], sources: Sequence[str]) -> dict[str, float]:
    """The features that come from `sources` (and the bias): named as a source, or
    starting with `<source>=` or `<source>.`."""
    names, prefixes = _matcher(tuple(sources))
    out = {BIAS_FEATURE: features.get(BIAS_FEATURE, 1.0)}
    for name, value in features.items():
        if name in names or name.startswith(prefixes):
            out[name] = value
    return out


@dataclass
class _Entry:
    models: WorkspaceModels
    fingerprint: tuple[int, ...]


class ModelRegistry:
    def __init__(
        self,
        uow: Callable[..., DecisioningUnitOfWork],
        refresh_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._entries = PerWorkspace(self._read, refresh_seconds, monotonic=monotonic)
        # Loaded ONNX sessions by (workspace, model id), kept while the spec's revision holds.
        self._sessions: dict[tuple[str, str], tuple[int, PropensityPredictor]] = {}

    async def get(self, workspace: str) -> WorkspaceModels:
        return (await self._entries.get(workspace)).models

    def forget(self, workspace: str) -> None:
        self._entries.forget(workspace)

    async def _read(self, workspace: str, previous: _Entry | None) -> _Entry:
        # One cheap query (the models' revisions) tells whether anything changed.
        async with self._uow(readonly=True) as uow:
            fingerprint = await uow.models.fingerprint(workspace)
            if previous is not None and previous.fingerprint == fingerprint:
                return previous
            return _Entry(await self._load(uow, workspace), fingerprint)

    async def _predictor(
        self, uow: DecisioningUnitOfWork, spec: ModelSpec
    ) -> PropensityPredictor | None:
        key = (spec.workspace, spec.model_id)
        cached = self._sessions.get(key)
        if cached is not None and cached[0] == spec.revision:
            return cached[1]
        data = await uow.models.onnx_model(spec.workspace, spec.model_id)
        try:
            predictor = OnnxPredictor(data or b"", len(spec.features))
        except ModelScoringError as err:
            # Checked when saved; a model that no longer loads is left out, not fatal.
            log.warning(
                "ONNX model cannot be loaded; left out",
                extra={"model": spec.name, "error_reason": str(err)[:200]},
            )
            return None
        self._sessions[key] = (spec.revision, predictor)
        return predictor

    async def _load(self, uow: DecisioningUnitOfWork, workspace: str) -> WorkspaceModels:
        active = None
        shadows = []
        for spec in await uow.models.list_all(workspace):
            model: ScoringModel
            if spec.kind is ModelKind.ONNX:
                predictor = await self._predictor(uow, spec)
                if predictor is None:
                    continue
                model = OnnxScoringModel(spec, predictor)
            else:
                model = LinearThompsonBandit(spec, await uow.models.statistics(spec))
            if spec.mode is ModelMode.ACTIVE and active is None:
                active = model
            else:
                shadows.append(model)
        return WorkspaceModels(active, tuple(shadows))
