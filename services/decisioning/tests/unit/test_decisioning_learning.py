"""The bandit's pure parts: features, hashing, additive statistics, Thompson draws and the
probabilities of positions."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.decisioning.domain.features import hashed, named_features
from rapport.decisioning.domain.learning import (
    ActionStatistics,
    LinearThompsonBandit,
    ModelKind,
    ModelMode,
    ModelSpec,
    PositionChances,
    position_probabilities,
    posterior,
)

SPEC = ModelSpec("default", "m", ModelKind.BANDIT, ModelMode.ACTIVE, features=("traits",))


def test_named_features_from_sources():
    profile = {
        "traits": {"plan": "gold", "age": 40, "vip": True, "tags": ["a", "b"], "bad": math.nan},
        "computed_traits": {"orders": {"count": 3}},
        "segments": ["s1"],
        "life_stage": "customer",
    }
    context = {"placement": "home", "now": "ignored", "local_time": {"hour": 3}}
    features = named_features(
        ["traits", "computed_traits.orders.count", "segments", "life_stage", "context"],
        profile,
        context,
    )
    assert features == {
        "bias": 1.0,
        "traits.plan=gold": 1.0,
        "traits.age": 40.0,
        "traits.vip=true": 1.0,
        "traits.tags=a": 1.0,
        "traits.tags=b": 1.0,
        "computed_traits.orders.count": 3.0,
        "segments=s1": 1.0,
        "life_stage=customer": 1.0,
        "context.placement=home": 1.0,
    }
    assert named_features(["traits.missing", "context.x.y"], profile, context) == {"bias": 1.0}


@given(st.dictionaries(st.text(max_size=20), st.floats(-5, 5), max_size=10), st.integers(4, 64))
def test_hashing_is_stable_and_sized(features, dims):
    first = hashed(features, dims)
    assert first.shape == (dims,)
    np.testing.assert_allclose(first, hashed(dict(reversed(list(features.items()))), dims))


observations = st.lists(
    st.tuples(
        st.lists(st.floats(-3, 3), min_size=4, max_size=4), st.booleans(), st.sampled_from([0, 1])
    ),
    max_size=20,
)


@given(observations, st.randoms(use_true_random=False))
def test_statistics_add_up_in_any_order(items, random):
    """What replicas rely on: the same observations in any order, or split in two and
    summed, give the same posterior."""
    forward = ActionStatistics.empty(4)
    for x, exposed, reward in items:
        forward.add(np.array(x), exposed=exposed, reward=reward)
    shuffled = list(items)
    random.shuffle(shuffled)
    half = len(shuffled) // 2
    parts = [ActionStatistics.empty(4), ActionStatistics.empty(4)]
    for index, (x, exposed, reward) in enumerate(shuffled):
        parts[index >= half].add(np.array(x), exposed=exposed, reward=reward)
    summed = parts[0].plus(parts[1])
    a, b = posterior(forward, 0.1, 1.0), posterior(summed, 0.1, 1.0)
    assert summed.count == forward.count
    np.testing.assert_allclose(a.mean, b.mean, atol=1e-6)
    np.testing.assert_allclose(a.covariance, b.covariance, atol=1e-9)


@settings(max_examples=50)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
)
def test_position_probabilities_are_distributions(acted, seed):
    rng = np.random.default_rng(seed)
    count = len(acted)
    samples = rng.random((50, count))
    multipliers = rng.random(count) + 0.5
    keys = [f"a{i}" for i in range(count)]
    chances = position_probabilities(np.array(acted), samples, multipliers, keys)
    assert chances.shape == (count,)
    # The acted draw is one of the draws: every action's chance is at least 1/51.
    assert np.all(chances >= 1 / 51 - 1e-12) and np.all(chances <= 1)


def test_a_sure_winner_has_probability_one():
    acted = np.array([0.9, 0.1])
    samples = np.tile(acted, (20, 1))
    chances = position_probabilities(acted, samples, np.ones(2), ["a", "b"])
    assert list(chances) == [1.0, 1.0]


def test_thompson_draws_are_seeded_and_learn():
    bandit = LinearThompsonBandit(SPEC)
    features = {"bias": 1.0, "traits.plan=gold": 1.0}
    first = bandit.score(["a", "b"], [0.5, 0.5], features, np.random.default_rng(7))
    again = bandit.score(["a", "b"], [0.5, 0.5], features, np.random.default_rng(7))
    assert np.array_equal(first.propensity, again.propensity)
    assert first.samples.shape == (127, 2)
    x = hashed(features, SPEC.dimensions)
    stats = {"a": ActionStatistics.empty(SPEC.dimensions), "b": ActionStatistics.empty(64)}
    for _ in range(200):
        stats["a"].add(x, exposed=True, reward=1)
        stats["b"].add(x, exposed=True, reward=0)
    learnt = LinearThompsonBandit(SPEC, stats)
    scores = learnt.score(["a", "b"], [0.5, 0.5], features, np.random.default_rng(7))
    assert scores.mean[0] > 0.95 and scores.mean[1] < 0.05
    assert np.all(scores.samples[:, 0] > scores.samples[:, 1])


@settings(max_examples=200)
@given(
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=1, max_size=7),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_position_chances_one_by_one_match_the_full_sort(acted, seed, tied):
    # Few distinct values so that ties (broken by name) are common.
    rng = np.random.default_rng(seed)
    count = len(acted)
    samples = rng.choice([0.0, 0.25, 0.5, 1.0], size=(30, count))
    multipliers = np.ones(count) if tied else rng.choice([0.5, 1.0, 2.0], size=count)
    keys = [f"a{(i * 5) % 7}{i}" for i in range(count)]
    expected = position_probabilities(np.array(acted), samples, multipliers, keys)
    chances = PositionChances(np.array(acted), samples, multipliers, keys)
    assert [chances.of(i) for i in reversed(range(count))] == list(reversed(expected.tolist()))


def test_position_chances_with_a_nan_follow_the_sort():
    acted = np.array([0.5, np.nan, 0.2])
    samples = np.array([[0.1, 0.3, np.nan], [0.4, 0.4, 0.4]])
    keys = ["c", "a", "b"]
    expected = position_probabilities(acted, samples, np.ones(3), keys)
    chances = PositionChances(acted, samples, np.ones(3), keys)
    assert [chances.of(i) for i in range(3)] == expected.tolist()
