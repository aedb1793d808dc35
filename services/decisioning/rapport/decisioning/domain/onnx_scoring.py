"""Models trained elsewhere (ONNX): their input rows and deterministic propensities.

The graph itself runs in an adapter (onnxruntime); the domain builds the input tensor
from the declared columns and checks what comes back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .features import ROOTS, lookup
from .learning import BanditScores, LinearThompsonBandit, ModelSpec
from .model import Action


class ModelScoringError(Exception):
    """A model could not score this decision (its propensities are not used)."""


class PropensityPredictor(Protocol):
    def predict(self, rows: np.ndarray) -> np.ndarray:
        """One propensity per row of the float32 input; ModelScoringError on failure."""
        ...


def onnx_context_features(
    columns: Sequence[str], profile: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, float]:
    """The decision's values of the profile and context columns (missing ones left out)."""
    out: dict[str, float] = {}
    for column in columns:
        source, equals, expected = column.partition("=")
        root, _, key = source.partition(".")
        if root not in ROOTS:
            continue
        scope = context if root == "context" else (profile.get(root) or {})
        value = lookup(scope, key)
        if equals:
            if isinstance(value, bool):
                value = "true" if value else "false"
            if isinstance(value, str | int | float) and str(value) == expected:
                out[column] = 1.0
        elif isinstance(value, bool):
            out[column] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            out[column] = float(value)
    return out


def onnx_rows(
    columns: Sequence[str], features: Mapping[str, float], actions: Sequence[Action]
) -> np.ndarray:
    """The input tensor: one row per action, one column per declared column (0 when the
    value is missing)."""
    rows = np.zeros((len(actions), len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        if column == "action.value":
            rows[:, j] = [a.value for a in actions]
        elif column == "action.lever":
            rows[:, j] = [a.lever for a in actions]
        elif column == "action.base_propensity":
            rows[:, j] = [a.base_propensity for a in actions]
        elif column.startswith("action="):
            wanted = column.removeprefix("action=")
            rows[:, j] = [1.0 if a.action_id == wanted else 0.0 for a in actions]
        else:
            rows[:, j] = features.get(column, 0.0)
    return rows


@dataclass
class OnnxScoringModel:
    """A model trained elsewhere: deterministic propensities from its ONNX graph."""

    spec: ModelSpec
    predictor: PropensityPredictor

    def features(self, profile: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, float]:
        return onnx_context_features(self.spec.features, profile, context)

    def score_actions(
        self, actions: Sequence[Action], features: Mapping[str, float], rng: np.random.Generator
    ) -> BanditScores:
        predicted = np.asarray(
            self.predictor.predict(onnx_rows(self.spec.features, features, actions)), dtype=float
        )
        if predicted.shape != (len(actions),) or not np.all(np.isfinite(predicted)):
            raise ModelScoringError("the model did not return one finite propensity per action")
        propensity = np.clip(predicted, 0.0, 1.0)
        return BanditScores(propensity, None, propensity)


ScoringModel = LinearThompsonBandit | OnnxScoringModel
