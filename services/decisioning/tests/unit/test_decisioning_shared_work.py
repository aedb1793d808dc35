"""Work a decision shares instead of redoing it per action gives what doing it per action
gives: engagement rules' outcomes shared by actions with the same rules, the outranked
explanations' factor texts formatted once, the position chances counted per action."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.decisioning.domain.arbitration import outranked_explanation
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.engagement import engage
from rapport.decisioning.domain.learning import PositionChances, position_probabilities
from rapport.decisioning.domain.model import (
    Action,
    ActionGroup,
    Channel,
    MessageContent,
    ScoreParts,
)
from rapport.decisioning.domain.outbound import CustomerProfile
from rapport.decisioning.domain.pipeline import DecisionRequest, context_variable
from rapport.decisioning.domain.rule_helpers import UTC_ZONE, helper_functions
from rapport.decisioning.domain.rules import RuleBook

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CUSTOMER = "workspaces/default/customers/c"
# Rules of every sort: true or false for the whole decision, failing, reading `action`
# alone, reading `action` and the profile; empty (no rule). Few sets, so that actions
# share theirs (eligibility, applicability, suitability).
RULE_SETS = [
    ("", "", ""),
    ("action.value > 40.0", "", ""),
    ("profile.traits.age >= 18", "", "action.value > 20.0 && profile.traits.age > 30"),
    ("", "context.missing.deeper == 1", ""),
    ("profile.traits.age < 40", "context.placement == 'home'", ""),
]
GROUPS = [
    ActionGroup("default", f"g{n}", "", "", "issue", *rules, 1.0, NOW)
    for n, rules in enumerate(
        [
            ("profile.traits.age >= 18", "", ""),
            ("", "context.placement == 'home'", "action.value > 40.0"),
            ("context.missing.deeper == 1", "", ""),
        ]
    )
]


def action(action_id: str, group: str, value: float, rules: tuple[str, str, str]) -> Action:
    eligibility, applicability, suitability = rules
    return Action(
        workspace="default",
        action_id=action_id,
        display_name="",
        description="",
        channels=(Channel.EMAIL,),
        purpose="marketing",
        value=value,
        lever=1.0,
        base_propensity=0.5,
        eligibility=eligibility,
        content=MessageContent("s", "b"),
        start_time=None,
        end_time=None,
        create_time=NOW,
        group_id=group,
        applicability=applicability,
        suitability=suitability,
    )


catalogues = st.lists(
    st.builds(
        action,
        st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
        st.sampled_from(["", "g0", "g1", "g2"]),
        st.sampled_from([10.0, 30.0, 50.0]),
        st.sampled_from(RULE_SETS),
    ),
    max_size=12,
    unique_by=lambda a: a.action_id,
)


def engaged(actions, age: int, placement: str):
    """engage's candidates (by name) and exclusions (name, reason, text), one fresh rule
    environment for the call."""
    config = DecisionConfig("default", actions=tuple(actions), groups=tuple(GROUPS))
    request = DecisionRequest(
        customer=CUSTOMER,
        context={"placement": placement},
        requested_channel=None,
        max_actions=3,
        now=NOW,
        zone=UTC_ZONE,
    )
    profile = CustomerProfile(CUSTOMER, {"age": age})
    env = RuleBook().environment(
        {"profile": profile.rule_variable(), "context": context_variable(request)},
        helper_functions(NOW.date(), UTC_ZONE),
    )
    candidates, excluded = engage(config, env, now=NOW, requested_channel=None, scope=None)
    return (
        [c.action.name for c in candidates],
        [(e.action, e.reason, e.explanation) for e in excluded],
    )


@settings(max_examples=150)
@given(catalogues, st.sampled_from([17, 25, 50]), st.sampled_from(["home", "checkout"]))
def test_engagement_shared_outcomes_match_each_action_on_its_own(actions, age, placement):
    together = engaged(actions, age, placement)
    alone: tuple[list, list] = ([], [])
    for item in actions:
        candidates, excluded = engaged([item], age, placement)
        alone[0].extend(candidates)
        alone[1].extend(excluded)
    assert together == alone


SPECIAL = [0.0, -0.0, 1.0, 1.5, 1e-7, 123456789.0, math.inf, -math.inf, math.nan]


def plain_explanation(max_actions: int, score: ScoreParts) -> str:
    return (
        f"Ranked below the top {max_actions}: priority = propensity {score.propensity:g} × "
        f"context weight {score.context_weight:g} × value {score.value:g} × lever "
        f"{score.lever:g} = {score.priority:g}."
    )


@given(st.tuples(*[st.sampled_from(SPECIAL) | st.floats()] * 4))
def test_outranked_explanations_read_as_each_part_formatted(parts):
    score = ScoreParts(*parts)
    # Twice: the second time the factors' text is a kept one.
    assert outranked_explanation(3, score) == plain_explanation(3, score)
    assert outranked_explanation(3, score) == plain_explanation(3, score)


def test_zero_factors_keep_their_sign_in_the_text():
    positive, negative = ScoreParts(0.5, 0.0, 2.0, 1.0), ScoreParts(0.5, -0.0, 2.0, 1.0)
    for score in (positive, negative, positive):
        assert outranked_explanation(3, score) == plain_explanation(3, score)


def test_position_chances_of_huge_draws_follow_the_sort():
    # Every draw is finite, their sum is not.
    acted = np.array([1e308, 1.5e308, 0.5])
    samples = np.array([[1.7e308, 1e308, 0.1], [1e308, 1.7e308, 0.2]])
    keys = ["b", "a", "c"]
    expected = position_probabilities(acted, samples, np.ones(3), keys)
    chances = PositionChances(acted, samples, np.ones(3), keys)
    assert [chances.of(i) for i in range(3)] == expected.tolist()
