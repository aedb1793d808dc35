"""Off-policy estimators: what they must give in the cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.decisioning.domain.evaluation import (
    LoggedChoice,
    evaluate,
    first_choice_probabilities,
)

ACTIONS = ("a", "b", "c")


def logs(rewards: list[int], chosen: list[int], probabilities: list[float]) -> list[LoggedChoice]:
    return [
        LoggedChoice(
            decision_id=f"d{i}",
            features={"bias": 1.0, f"traits.k={i % 3}": 1.0},
            considered=ACTIONS,
            multipliers=(1.0, 1.0, 1.0),
            chosen=ACTIONS[c],
            probability=p,
            reward=float(r),
        )
        for i, (r, c, p) in enumerate(zip(rewards, chosen, probabilities, strict=True))
    ]


def same_as_logged(choice: LoggedChoice) -> np.ndarray:
    return np.array([1.0 if a == choice.chosen else 0.0 for a in choice.considered])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2)), min_size=2, max_size=40))
def test_the_logging_policy_itself_is_valued_at_its_observed_mean(items):
    """A deterministic logging policy (μ = 1) evaluated as the candidate: IPS and DR
    both equal the observed mean reward."""
    rewards = [r for r, _ in items]
    choices = logs(rewards, [c for _, c in items], [1.0] * len(items))
    result = evaluate(choices, same_as_logged)
    assert result.decision_count == len(items)
    assert result.logged.value == pytest.approx(np.mean(rewards))
    assert result.inverse_propensity.value == pytest.approx(np.mean(rewards))
    assert result.doubly_robust.value == pytest.approx(np.mean(rewards))
    assert result.agreement == 1.0
    assert result.effective_sample_size == pytest.approx(len(items))
    for estimate in (result.logged, result.inverse_propensity, result.doubly_robust):
        assert estimate.lower <= estimate.value <= estimate.upper


def test_ips_recovers_a_better_policy_from_uniform_logs():
    """Uniformly random logging over 3 actions where only `b` rewards: the policy that
    always picks `b` is worth 1, the logged one 1/3."""
    rng = np.random.default_rng(1)
    chosen = rng.integers(0, 3, 3000).tolist()
    rewards = [1 if c == 1 else 0 for c in chosen]
    choices = logs(rewards, chosen, [1 / 3] * len(chosen))
    result = evaluate(choices, lambda choice: np.array([0.0, 1.0, 0.0]))
    assert result.logged.value == pytest.approx(1 / 3, abs=0.03)
    assert result.inverse_propensity.lower <= 1.0 <= result.inverse_propensity.upper
    assert result.doubly_robust.value == pytest.approx(1.0, abs=0.05)
    # DR is tighter than IPS here: the reward model explains the reward.
    assert result.doubly_robust.standard_error < result.inverse_propensity.standard_error


def test_no_logged_decision_gives_zeros():
    result = evaluate([], same_as_logged)
    assert result.decision_count == 0 and result.inverse_propensity.value == 0.0


def test_first_choice_probabilities():
    deterministic = first_choice_probabilities(np.array([0.2, 0.5, 0.1]), None, np.ones(3))
    assert list(deterministic) == [0.0, 1.0, 0.0]
    weighted = first_choice_probabilities(
        np.array([0.2, 0.5, 0.1]), None, np.array([10.0, 1.0, 1.0])
    )
    assert list(weighted) == [1.0, 0.0, 0.0]
    samples = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.1, 0.9, 0.0]])
    sampled = first_choice_probabilities(np.array([0.9, 0.1, 0.0]), samples, np.ones(3))
    assert list(sampled) == [0.5, 0.5, 0.0]
