"""Screening, consent filtering, scoring and ranking of actions (the pipeline's steps).

Written against arbitration.screen / arbitrate before the pipeline existed; the
same assertions now go through DecisionPipeline (engagement, then the consent,
scoring and arbitration steps), with the contact limits off.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.decisioning.domain import arbitration
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.model import (
    Action,
    Channel,
    ExclusionReason,
    MessageContent,
)
from rapport.decisioning.domain.outbound import CustomerProfile
from rapport.decisioning.domain.pipeline import DecisionPipeline, DecisionRequest
from rapport.decisioning.domain.policies import ArbitrationSettings, ContextWeight, DecisionSettings
from rapport.decisioning.domain.rule_helpers import UTC_ZONE
from rapport.decisioning.domain.rules import RuleBook

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CUSTOMER = "workspaces/default/customers/alice"


def make_action(
    action_id: str,
    *,
    channels: tuple[Channel, ...] = (Channel.EMAIL,),
    purpose: str = "marketing",
    value: float = 100.0,
    lever: float = 1.0,
    propensity: float = 0.5,
    eligibility: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Action:
    return Action(
        workspace="default",
        action_id=action_id,
        display_name="",
        description="",
        channels=channels,
        purpose=purpose,
        value=value,
        lever=lever,
        base_propensity=propensity,
        eligibility=eligibility,
        content=MessageContent("s", "b"),
        start_time=start,
        end_time=end,
        create_time=NOW,
    )


NO_LIMITS = DecisionSettings(contact_limits=())


def pipeline(actions, *, channel=None, traits=None, context=None, max_actions=3):
    config = DecisionConfig("default", actions=tuple(actions), settings=NO_LIMITS)
    request = DecisionRequest(
        customer=CUSTOMER,
        context=context or {},
        requested_channel=channel,
        max_actions=max_actions,
        now=NOW,
        zone=UTC_ZONE,
    )
    return DecisionPipeline(config, request, CustomerProfile(CUSTOMER, traits or {}), RuleBook())


def screen(actions, *, channel=None, traits=None, context=None):
    screened = pipeline(actions, channel=channel, traits=traits, context=context)
    return list(screened.candidates), list(screened.engagement_excluded)


def all_granted(candidates):
    return {pair: True for pair in arbitration.consent_pairs(candidates)}


def arbitrate(actions, consent, *, max_actions, channel=None):
    """(ranked, excluded at consent or arbitration) of the actions, all eligible."""
    screened = pipeline(actions, channel=channel, max_actions=max_actions)
    verdict = screened.run([], [], consent, "d1")
    return (
        list(verdict.ranked),
        [e for e in verdict.excluded if e.reason is not ExclusionReason.OUTRANKED],
        verdict,
    )


def reasons(excluded):
    return {e.action.rsplit("/", 1)[1]: e.reason for e in excluded}


def test_ranked_by_priority_with_score_parts():
    actions = [
        make_action("cheap", value=10.0),
        make_action("dear", value=200.0, propensity=0.2, lever=2.0),  # 80
        make_action("mid", value=100.0, propensity=0.5),  # 50
    ]
    candidates, excluded = screen(actions)
    ranked, refused, _ = arbitrate(actions, all_granted(candidates), max_actions=3)
    assert excluded == [] and refused == []
    assert [r.action.rsplit("/", 1)[1] for r in ranked] == ["dear", "mid", "cheap"]
    assert [r.rank for r in ranked] == [1, 2, 3]
    best = ranked[0]
    assert best.priority == 0.2 * 1.0 * 200.0 * 2.0
    assert (best.score.propensity, best.score.context_weight) == (0.2, 1.0)
    assert (best.score.value, best.score.lever) == (200.0, 2.0)
    assert best.probability == 1.0
    assert best.channel is Channel.EMAIL
    assert "0.2 × context weight 1 × value 200 × lever 2 = 80" in best.explanation
    assert "consent granted for marketing on email" in best.explanation


def test_ties_are_broken_by_name_and_max_actions_applies():
    actions = [make_action(n) for n in ("c", "a", "b")]
    candidates, _ = screen(actions)
    ranked, _, verdict = arbitrate(actions, all_granted(candidates), max_actions=2)
    assert [r.action for r in ranked] == [
        "workspaces/default/actions/a",
        "workspaces/default/actions/b",
    ]
    # The third is accounted for: outranked, with its score.
    (outranked,) = verdict.excluded
    assert outranked.action == "workspaces/default/actions/c"
    assert outranked.reason is ExclusionReason.OUTRANKED and outranked.priority == 50.0


def test_exclusions_carry_reasons():
    actions = [
        make_action("future", start=NOW + timedelta(days=1)),
        make_action("past", end=NOW),
        make_action("sms-only", channels=(Channel.SMS,)),
        make_action("adults", eligibility="profile.traits.age >= 18"),
        make_action("broken", eligibility="context.page == 'home'"),
        make_action("not-bool", eligibility="profile.traits.age"),
        make_action("fine"),
    ]
    candidates, excluded = screen(actions, channel=Channel.EMAIL, traits={"age": 12.0})
    assert [c.action.action_id for c in candidates] == ["fine"]
    assert reasons(excluded) == {
        "future": ExclusionReason.OUT_OF_WINDOW,
        "past": ExclusionReason.OUT_OF_WINDOW,
        "sms-only": ExclusionReason.CHANNEL_MISMATCH,
        "adults": ExclusionReason.NOT_ELIGIBLE,
        "broken": ExclusionReason.RULE_ERROR,
        "not-bool": ExclusionReason.RULE_ERROR,
    }
    broken = next(e for e in excluded if e.action.endswith("/broken"))
    assert "no such key: page" in broken.explanation


def test_window_bounds_start_inclusive_end_exclusive():
    starts_now = make_action("starts-now", start=NOW)
    ends_later = make_action("ends-later", end=NOW + timedelta(seconds=1))
    candidates, excluded = screen([starts_now, ends_later])
    assert len(candidates) == 2 and excluded == []


def test_eligibility_sees_traits_customer_and_context():
    action = make_action(
        "targeted",
        eligibility=(
            "profile.traits.plan == 'gold' && context.page == 'home' "
            f"&& profile.customer == '{CUSTOMER}'"
        ),
    )
    candidates, _ = screen([action], traits={"plan": "gold"}, context={"page": "home"})
    assert len(candidates) == 1


def test_consent_pairs_are_deduplicated_and_inbound_needs_none():
    actions = [
        make_action("a", channels=(Channel.EMAIL, Channel.SMS)),
        make_action("b", channels=(Channel.EMAIL,)),
        make_action("c", channels=(Channel.INBOUND,)),
        make_action("d", channels=(Channel.EMAIL,), purpose="service"),
    ]
    candidates, _ = screen(actions)
    assert arbitration.consent_pairs(candidates) == [
        ("marketing", Channel.EMAIL),
        ("marketing", Channel.SMS),
        ("service", Channel.EMAIL),
    ]


def test_requested_channel_is_the_only_one_checked():
    actions = [make_action("a", channels=(Channel.EMAIL, Channel.SMS))]
    candidates, _ = screen(actions, channel=Channel.SMS)
    assert arbitration.consent_pairs(candidates) == [("marketing", Channel.SMS)]


def test_first_consented_channel_is_chosen_and_no_consent_excludes():
    actions = [
        make_action("both", channels=(Channel.EMAIL, Channel.SMS)),
        make_action("email-only", channels=(Channel.EMAIL,)),
        make_action("inbound", channels=(Channel.INBOUND,)),
    ]
    consent = {("marketing", Channel.EMAIL): False, ("marketing", Channel.SMS): True}
    ranked, refused, _ = arbitrate(actions, consent, max_actions=10)
    chosen = {r.action.rsplit("/", 1)[1]: r.channel for r in ranked}
    assert chosen == {"both": Channel.SMS, "inbound": Channel.INBOUND}
    assert reasons(refused) == {"email-only": ExclusionReason.NO_CONSENT}
    inbound = next(r for r in ranked if r.channel is Channel.INBOUND)
    assert "no consent needed on inbound" in inbound.explanation


_actions = st.lists(
    st.builds(
        make_action,
        st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
        channels=st.sampled_from(
            [(Channel.EMAIL,), (Channel.SMS,), (Channel.EMAIL, Channel.SMS), (Channel.INBOUND,)]
        ),
        value=st.floats(min_value=0.01, max_value=1e6),
        lever=st.floats(min_value=0.01, max_value=10),
        propensity=st.floats(min_value=0.01, max_value=1),
    ),
    max_size=12,
    unique_by=lambda a: a.action_id,
)


@given(
    actions=_actions,
    grants=st.dictionaries(
        st.sampled_from([Channel.EMAIL, Channel.SMS]), st.booleans(), min_size=2, max_size=2
    ),
    max_actions=st.integers(min_value=1, max_value=15),
)
def test_ranking_invariants(actions, grants, max_actions):
    candidates, _ = screen(actions)
    consent = {pair: grants[pair[1]] for pair in arbitration.consent_pairs(candidates)}
    ranked, refused, verdict = arbitrate(actions, consent, max_actions=max_actions)

    ranked_names = [r.action for r in ranked]
    refused_names = {e.action for e in refused}
    assert len(ranked) <= max_actions
    assert not set(ranked_names) & refused_names
    # Every candidate is either ranked, refused, or ranked below the cut.
    assert len(set(ranked_names)) == len(ranked_names)
    assert len(ranked) + len(refused) <= len(candidates)
    if len(ranked) < max_actions:
        assert len(ranked) + len(refused) == len(candidates)
    # Best first, ranks 1..n, priority is the product of its parts.
    keys = [(-r.priority, r.action) for r in ranked]
    assert keys == sorted(keys)
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    for r in ranked:
        parts = r.score
        assert r.priority == parts.propensity * parts.context_weight * parts.value * parts.lever
        assert r.channel is Channel.INBOUND or grants[r.channel]
    for e in refused:
        assert e.reason is ExclusionReason.NO_CONSENT
    # Every action is accounted for, once.
    assert sorted([*ranked_names, *(e.action for e in verdict.excluded)]) == sorted(
        a.name for a in actions
    )


@pytest.mark.parametrize("by_action", [False, True])
def test_context_weights_apply_to_every_candidate_alike_or_by_action(by_action):
    # Rules not reading `action` are evaluated once and their weight shared by every
    # candidate; one reading it still weighs each action on its own; a failing one is
    # noted on each.
    weights = (
        ContextWeight("context.placement == 'home'", 1.5),
        ContextWeight("context.missing.deeper == 1", 3.0),
    )
    if by_action:
        weights += (ContextWeight("action.value > 150.0", 2.0),)
    settings_ = DecisionSettings(
        contact_limits=(), arbitration=ArbitrationSettings(context_weights=weights)
    )
    actions = [make_action(f"a{i}", value=100.0 + 40 * i) for i in range(4)]
    config = DecisionConfig("default", actions=tuple(actions), settings=settings_)
    request = DecisionRequest(
        customer=CUSTOMER,
        context={"placement": "home"},
        requested_channel=None,
        max_actions=4,
        now=NOW,
        zone=UTC_ZONE,
    )
    screened = DecisionPipeline(config, request, CustomerProfile(CUSTOMER), RuleBook())
    verdict = screened.run([], [], all_granted(screened.candidates), "d1")
    ranked = {r.action.rsplit("/", 1)[1]: r for r in verdict.ranked}
    doubled = {"a2", "a3"} if by_action else set()
    assert {a: r.score.context_weight for a, r in ranked.items()} == {
        a: 3.0 if a in doubled else 1.5 for a in ("a0", "a1", "a2", "a3")
    }
    for action, item in ranked.items():
        assert "context weight 1.5 for `context.placement == 'home'`" in item.explanation
        assert "context weight rule 2 failed" in item.explanation
        assert ("context weight 2 for `action.value > 150.0`" in item.explanation) is (
            action in doubled
        )
