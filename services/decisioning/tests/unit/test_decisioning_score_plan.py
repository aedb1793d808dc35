"""Scoring with the plans kept per configuration gives what scoring afresh gives, decision
after decision; outranked actions built without the dataclass's __init__ are the same
values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.decisioning.domain import arbitration
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.contact_policy import ContactBudget
from rapport.decisioning.domain.engagement import engage
from rapport.decisioning.domain.model import (
    Action,
    ActionGroup,
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    MessageContent,
    ScoreParts,
)
from rapport.decisioning.domain.outbound import CustomerProfile
from rapport.decisioning.domain.pipeline import DecisionRequest, context_variable
from rapport.decisioning.domain.policies import ArbitrationSettings, ContextWeight, PriorityPart
from rapport.decisioning.domain.rule_helpers import UTC_ZONE, helper_functions
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.entrypoints import converters

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CUSTOMER = "workspaces/default/customers/c"
# Context weights of every sort: about the context alone, the action alone, the action
# and the profile, failing for the whole decision, failing for some actions.
CONDITIONS = [
    "context.placement == 'home'",
    "action.value > 40.0",
    "action.value > 20.0 && profile.traits.age > 30",
    "context.missing.deeper == 1",
    "action.missing == 1",
]
GROUP = ActionGroup("default", "g", "", "", "issue", "", "", "", 2.0, NOW)


def action(action_id: str, value: float, grouped: bool, lever: float) -> Action:
    return Action(
        workspace="default",
        action_id=action_id,
        display_name="",
        description="",
        channels=(Channel.EMAIL,),
        purpose="marketing",
        value=value,
        lever=lever,
        base_propensity=0.25,
        eligibility="",
        content=MessageContent("s", "b"),
        start_time=None,
        end_time=None,
        create_time=NOW,
        group_id="g" if grouped else "",
    )


catalogues = st.lists(
    st.builds(
        action,
        st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
        st.sampled_from([10.0, 30.0, 50.0]),
        st.booleans(),
        st.sampled_from([1.0, 0.5]),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda a: a.action_id,
)
weightings = st.builds(
    ArbitrationSettings,
    st.sampled_from(
        [
            tuple(PriorityPart),
            (PriorityPart.PROPENSITY, PriorityPart.CONTEXT_WEIGHT),
            (PriorityPart.VALUE,),
        ]
    ),
    st.lists(
        st.builds(ContextWeight, st.sampled_from(CONDITIONS), st.sampled_from([1.5, 0.5])),
        max_size=3,
    ).map(tuple),
)
decisions = st.lists(
    st.tuples(st.sampled_from([17, 50]), st.sampled_from(["home", "checkout"])),
    min_size=1,
    max_size=4,
)


class Batch:
    """A batch model: the action's base propensity, with draws."""

    def propensities(self, actions):
        values = [a.base_propensity * (1 + n % 3) for n, a in enumerate(actions)]
        samples = np.array([values, values[::-1]])
        return arbitration.Propensities(values, "a test", samples)


def scored(config, rules, arbitration_settings, age, placement, model, kept):
    request = DecisionRequest(
        customer=CUSTOMER,
        context={"placement": placement},
        requested_channel=None,
        max_actions=3,
        now=NOW,
        zone=UTC_ZONE,
    )
    env = rules.environment(
        {
            "profile": CustomerProfile(CUSTOMER, {"age": age}).rule_variable(),
            "context": context_variable(request),
        },
        helper_functions(NOW.date(), UTC_ZONE),
    )
    candidates, _ = engage(config, env, now=NOW, requested_channel=None, scope=None)
    result = arbitration.score(candidates, arbitration_settings, env, model, kept=kept)
    return [(s.candidate.action.name, s.score, s.notes, s.probability) for s in result]


@settings(max_examples=150)
@given(catalogues, weightings, decisions, st.booleans())
def test_kept_plans_score_as_scoring_afresh(actions, arbitration_settings, asked, batch):
    config = DecisionConfig("default", actions=tuple(actions), groups=(GROUP,))
    model = Batch() if batch else arbitration.BasePropensity()
    kept: dict = {}
    rules = RuleBook()
    for age, placement in asked:
        fresh = scored(
            DecisionConfig("default", actions=tuple(actions), groups=(GROUP,)),
            RuleBook(),
            arbitration_settings,
            age,
            placement,
            model,
            None,
        )
        assert scored(config, rules, arbitration_settings, age, placement, model, kept) == fresh


def test_a_plan_is_kept_and_found_again():
    actions = [action(f"a{n}", 10.0 * n, n % 2 == 0, 1.0) for n in range(5)]
    config = DecisionConfig("default", actions=tuple(actions), groups=(GROUP,))
    weights = ArbitrationSettings(
        context_weights=(ContextWeight(CONDITIONS[0], 1.5), ContextWeight(CONDITIONS[1], 1.2))
    )
    kept: dict = {}
    rules = RuleBook()
    first = scored(config, rules, weights, 50, "home", Batch(), kept)
    assert len(kept) == 1
    assert scored(config, rules, weights, 50, "home", Batch(), kept) == first
    assert len(kept) == 1
    scored(config, rules, weights, 50, "checkout", Batch(), kept)
    assert len(kept) == 2


def test_an_outranked_action_is_the_dataclass_built_field_by_field():
    score = ScoreParts(0.1, 1.5, 30.0, 1.0)
    fast = arbitration.outranked_action("a", "text", score)
    plain = ExcludedAction("a", ExclusionReason.OUTRANKED, "text", score, True)
    assert fast == plain
    assert vars(fast) == vars(plain)
    assert list(vars(fast)) == [f.name for f in dataclasses.fields(ExcludedAction)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.action = "b"  # type: ignore[misc]


def test_a_score_of_zeros_is_still_sent():
    zeros = ScoreParts(0.0, 0.0, 0.0, 0.0)
    decision = Decision(
        decision_id="d",
        workspace="default",
        customer=CUSTOMER,
        actions=(),
        excluded=(arbitration.outranked_action("workspaces/default/actions/a", "t", zeros),),
        channel=None,
        source="",
        create_time=NOW,
    )
    response = converters.decide_response(decision)
    assert response.excluded_actions[0].HasField("score")


@settings(max_examples=100)
@given(catalogues, weightings, st.integers(0, 4))
def test_outranked_actions_read_as_outranked_explanation(actions, arbitration_settings, top):
    config = DecisionConfig("default", actions=tuple(actions), groups=(GROUP,))
    request = DecisionRequest(
        customer=CUSTOMER,
        context={"placement": "home"},
        requested_channel=None,
        max_actions=top,
        now=NOW,
        zone=UTC_ZONE,
    )
    env = RuleBook().environment(
        {
            "profile": CustomerProfile(CUSTOMER, {"age": 50}).rule_variable(),
            "context": context_variable(request),
        },
        helper_functions(NOW.date(), UTC_ZONE),
    )
    candidates, _ = engage(config, env, now=NOW, requested_channel=None, scope=None)
    scored_now = arbitration.score(candidates, arbitration_settings, env, Batch(), kept={})
    budget = ContactBudget((), [], NOW)
    ranked, outranked = arbitration.arbitrate(scored_now, budget, max_actions=top)
    assert len(ranked) + len(outranked) == len(candidates)
    for item in outranked:
        assert item.explanation == arbitration.outranked_explanation(top, item.score)
        assert item == ExcludedAction(
            item.action, ExclusionReason.OUTRANKED, item.explanation, item.score, True
        )
