"""Experiment assignment and the report's statistics (Wilson, Newcombe), pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.decisioning.domain.arbitration import consent_pairs
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.experiments import (
    Arm,
    Experiment,
    ExperimentDraft,
    Strategy,
    assign,
    random_order,
    uplift,
    validate_new_experiment,
    wilson,
)
from rapport.decisioning.domain.model import Action, Channel, ExclusionReason, MessageContent
from rapport.decisioning.domain.outbound import CustomerProfile
from rapport.decisioning.domain.pipeline import DecisionPipeline, DecisionRequest
from rapport.decisioning.domain.policies import DecisionSettings
from rapport.decisioning.domain.rule_helpers import UTC_ZONE
from rapport.decisioning.domain.rules import RuleBook
from rapport.errors import InvalidArgument

from .test_decisioning_pipeline_properties import actions as catalogues

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def experiment(experiment_id="e", weights=(9, 1), **fields) -> Experiment:
    values = {
        "workspace": "default",
        "experiment_id": experiment_id,
        "display_name": "",
        "action_ids": (),
        "arms": (
            Arm("treated", Strategy.MODEL, weights[0]),
            Arm("control", Strategy.CONTROL, weights[1]),
        ),
        "start_time": None,
        "end_time": None,
        "create_time": NOW - timedelta(days=1),
    }
    values.update(fields)
    return Experiment(**values)


def test_assignment_follows_the_weights_and_is_stable():
    ten_percent = experiment(weights=(9, 1))
    customers = [f"workspaces/default/customers/c{i}" for i in range(5000)]
    arms = [ten_percent.arm_for(c).arm_id for c in customers]
    share = arms.count("control") / len(arms)
    assert 0.08 < share < 0.12
    assert arms == [ten_percent.arm_for(c).arm_id for c in customers]
    # Another experiment splits the same customers independently.
    other = experiment("other", weights=(1, 1))
    both = sum(
        1
        for c in customers
        if ten_percent.arm_for(c).arm_id == other.arm_for(c).arm_id == "control"
    )
    assert 0.03 < both / len(customers) < 0.07


def test_only_a_running_experiment_applies_and_the_first_by_id_wins():
    later = experiment("a", start_time=NOW + timedelta(days=1))
    ended = experiment("b", end_time=NOW)
    running = experiment("c")
    also = experiment("d")
    found = assign([also, running, later, ended], "workspaces/default/customers/x", [], NOW)
    assert found is None  # no candidate action: no experiment

    action = Action(
        workspace="default", action_id="x", display_name="", description="",
        channels=(Channel.EMAIL,), purpose="marketing", value=1.0, lever=1.0,
        base_propensity=0.5, eligibility="", content=MessageContent("s", "b", ""),
        start_time=None, end_time=None, create_time=NOW,
    )  # fmt: skip
    found = assign([also, running, later, ended], "workspaces/default/customers/x", [action], NOW)
    assert found is not None and found.experiment.experiment_id == "c"
    scoped = experiment("a", action_ids=("y",))
    found = assign([scoped, also], "workspaces/default/customers/x", [action], NOW)
    assert found is not None and found.experiment.experiment_id == "d"


def test_a_new_experiment_must_end_after_the_clock():
    draft = ExperimentDraft(
        arms=(Arm("treated", Strategy.MODEL, 1), Arm("control", Strategy.CONTROL, 1))
    )
    for end in (datetime(2020, 1, 1, tzinfo=UTC), NOW):
        with pytest.raises(InvalidArgument) as refused:
            validate_new_experiment(replace(draft, end_time=end), NOW)
        assert refused.value.field == "experiment.end_time"
    later = replace(draft, end_time=NOW + timedelta(seconds=1))
    assert validate_new_experiment(later, NOW).end_time == NOW + timedelta(seconds=1)
    assert validate_new_experiment(draft, NOW).end_time is None


def test_random_order_is_reproducible_per_seed():
    assert random_order(5, "d1") == random_order(5, "d1")
    assert random_order(5, "d1") != random_order(5, "d2")


def test_wilson_known_values():
    # Wilson 95% for 10/100: (0.0552, 0.1744) (Newcombe 1998, table I style values).
    interval = wilson(10, 100)
    assert interval.estimate == 0.1
    assert interval.lower == pytest.approx(0.0552, abs=5e-4)
    assert interval.upper == pytest.approx(0.1744, abs=5e-4)
    assert wilson(0, 0).estimate == 0.0


@pytest.mark.parametrize("trials", [1, 7, 24, 1000])
def test_wilson_bounds_are_exact_at_no_and_all_successes(trials):
    # A control arm without conversions reported a lower bound of 1.4e-17, not 0.
    assert wilson(0, trials).lower == 0.0
    assert wilson(trials, trials).upper == 1.0


def test_newcombe_known_values():
    # Newcombe (1998) example: 56/70 vs 48/80 -> 0.2 with (0.0524, 0.3339).
    lift = uplift((56, 70), (48, 80))
    assert lift.estimate == pytest.approx(0.2)
    assert lift.lower == pytest.approx(0.0524, abs=5e-4)
    assert lift.upper == pytest.approx(0.3339, abs=5e-4)


counts = st.integers(min_value=0, max_value=10_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(counts)
def test_wilson_interval_holds_the_estimate_within_zero_and_one(pair):
    successes, trials = pair
    interval = wilson(successes, trials)
    assert 0.0 <= interval.lower <= interval.estimate + 1e-12
    assert interval.estimate <= interval.upper + 1e-12 and interval.upper <= 1.0


@given(counts, counts)
def test_uplift_interval_holds_the_difference(treated, control):
    lift = uplift(treated, control)
    assert -1.0 <= lift.lower <= lift.estimate + 1e-12
    assert lift.estimate <= lift.upper + 1e-12 <= 1.0 + 1e-12


# -- the pipeline's experiment step, for any catalogue and arm --------------------------


RULES = RuleBook()


@settings(max_examples=200, deadline=None)
@given(
    catalogue=catalogues,
    strategy=st.sampled_from(list(Strategy)),
    scope=st.integers(min_value=0, max_value=3),
    customer=st.integers(min_value=0, max_value=10**6),
    max_actions=st.integers(min_value=1, max_value=12),
)
def test_the_experiment_step_for_any_arm(catalogue, strategy, scope, customer, max_actions):
    covered = tuple(a.action_id for a in catalogue[:scope])
    # One arm: every customer is in it.
    only = experiment(action_ids=covered, arms=(Arm("only", strategy, 1),))
    config = DecisionConfig("default", actions=tuple(catalogue), settings=DecisionSettings(()))
    name = f"workspaces/default/customers/c{customer}"
    request = DecisionRequest(name, {}, None, max_actions, NOW, UTC_ZONE)
    pipeline = DecisionPipeline(config, request, CustomerProfile(name), RULES, running=[only])
    restricted = pipeline.restrict([], [])
    consent = dict.fromkeys(consent_pairs(restricted.candidates), True)
    verdict = pipeline.conclude(restricted, consent, [], f"d{customer}")

    names = [r.action for r in verdict.ranked] + [e.action for e in verdict.excluded]
    assert sorted(names) == sorted(a.name for a in catalogue)
    candidates = {c.action.name for c in restricted.candidates}
    in_scope = {a.name for a in catalogue if not covered or a.action_id in covered}
    if not candidates & in_scope:
        assert verdict.assignment is None
        return
    assert verdict.assignment is not None and verdict.assignment.arm.arm_id == "only"
    held = {e.action for e in verdict.excluded if e.reason is ExclusionReason.CONTROL_GROUP}
    ranked = {r.action for r in verdict.ranked}
    if strategy is Strategy.CONTROL:
        assert held == candidates & in_scope
        assert not ranked & in_scope
    else:
        assert not held
    if strategy is Strategy.RANDOM:
        count = len(candidates)
        assert [r.probability for r in verdict.ranked] == [
            1.0 / (count - r.rank + 1) for r in verdict.ranked
        ]
    else:
        assert all(r.probability > 0 for r in verdict.ranked)
