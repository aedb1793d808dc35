"""The decision pipeline's invariants, for any catalogue, contact history and settings:

- every action of the configuration is ranked or excluded, exactly once, with a reason;
- ranks are 1..n, best priority first, ties by name, the same whatever the catalogue order;
- each priority is the product of its parts, the parts switched off counting as 1;
- no contact limit is exceeded, counting the history and the decision's own contacts;
- suppression follows the recorded outcomes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.decisioning.domain.arbitration import consent_pairs
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.contact_policy import Contact, PastOutcome, suppressed_until
from rapport.decisioning.domain.model import (
    Action,
    Channel,
    ExclusionReason,
    MessageContent,
    OutcomeType,
)
from rapport.decisioning.domain.outbound import CustomerProfile
from rapport.decisioning.domain.pipeline import DecisionPipeline, DecisionRequest
from rapport.decisioning.domain.policies import (
    ArbitrationSettings,
    ContactLimit,
    ContextWeight,
    DecisionSettings,
    PriorityPart,
    SuppressionRule,
)
from rapport.decisioning.domain.rule_helpers import UTC_ZONE
from rapport.decisioning.domain.rules import RuleBook

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CUSTOMER = "workspaces/default/customers/c"
CHANNEL_SETS = [
    (Channel.EMAIL,),
    (Channel.SMS,),
    (Channel.EMAIL, Channel.SMS),
    (Channel.SMS, Channel.PUSH),
    (Channel.INBOUND,),
    (Channel.EMAIL, Channel.INBOUND),
]
RULES = RuleBook()


def action(action_id, channels, purpose, value, lever, propensity, tags) -> Action:
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
        eligibility="",
        content=MessageContent("s", "b"),
        start_time=None,
        end_time=None,
        create_time=NOW,
        tags=tags,
    )


actions = st.lists(
    st.builds(
        action,
        st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
        st.sampled_from(CHANNEL_SETS),
        st.sampled_from(["marketing", "service"]),
        # Few distinct values: ties happen.
        st.sampled_from([1.0, 2.0, 10.0, 100.0]),
        st.sampled_from([0.5, 1.0, 2.0]),
        st.sampled_from([0.1, 0.5, 1.0]),
        st.sampled_from([(), ("vip",), ("renewal",)]),
    ),
    max_size=10,
    unique_by=lambda a: a.action_id,
)
limits = st.lists(
    st.builds(
        ContactLimit,
        st.sampled_from([(Channel.EMAIL,), (Channel.SMS,), (Channel.EMAIL, Channel.SMS)]),
        st.sampled_from([(), ("marketing",)]),
        st.integers(min_value=0, max_value=3),
        st.sampled_from([timedelta(days=1), timedelta(days=7)]),
    ),
    max_size=3,
)
history = st.lists(
    st.builds(
        Contact,
        st.sampled_from([Channel.EMAIL, Channel.SMS, Channel.PUSH]),
        st.sampled_from(["marketing", "service"]),
        st.just("workspaces/default/actions/old"),
        st.integers(min_value=0, max_value=10 * 24).map(lambda h: NOW - timedelta(hours=h)),
    ),
    max_size=6,
)
arbitration = st.builds(
    ArbitrationSettings,
    st.lists(st.sampled_from(list(PriorityPart)), unique=True, min_size=1).map(
        lambda parts: tuple(p for p in PriorityPart if p in parts)
    ),
    st.lists(
        st.builds(
            ContextWeight,
            st.sampled_from(["'vip' in action.tags", "action.purpose == 'service'", "1 / 0 == 1"]),
            st.sampled_from([0.5, 2.0]),
        ),
        max_size=2,
    ).map(tuple),
)


def run(catalogue, contact_limits, contacts, arbitration_settings, grants, max_actions):
    settings_ = DecisionSettings(
        contact_limits=tuple(contact_limits), arbitration=arbitration_settings
    )
    config = DecisionConfig("default", actions=tuple(catalogue), settings=settings_)
    request = DecisionRequest(
        customer=CUSTOMER,
        context={},
        requested_channel=None,
        max_actions=max_actions,
        now=NOW,
        zone=UTC_ZONE,
    )
    pipeline = DecisionPipeline(config, request, CustomerProfile(CUSTOMER), RULES)
    restricted = pipeline.restrict(contacts, [])
    consent = {pair: grants[pair[1]] for pair in consent_pairs(restricted.candidates)}
    return pipeline.conclude(restricted, consent, contacts, "d1")


@settings(max_examples=300, deadline=None)
@given(
    catalogue=actions,
    contact_limits=limits,
    contacts=history,
    arbitration_settings=arbitration,
    grants=st.fixed_dictionaries(
        {c: st.booleans() for c in (Channel.EMAIL, Channel.SMS, Channel.PUSH)}
    ),
    max_actions=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_arbitration_invariants(
    catalogue, contact_limits, contacts, arbitration_settings, grants, max_actions, seed
):
    verdict = run(catalogue, contact_limits, contacts, arbitration_settings, grants, max_actions)
    ranked, excluded = verdict.ranked, verdict.excluded

    # Every action once, ranked or excluded with a reason.
    names = [r.action for r in ranked] + [e.action for e in excluded]
    assert sorted(names) == sorted(a.name for a in catalogue)
    assert all(e.reason in ExclusionReason and e.explanation for e in excluded)
    assert [e.action for e in excluded] == sorted(e.action for e in excluded)

    # Ranks 1..n, best first, ties by name; OUTRANKED only once the top is full, and never
    # above the last ranked one.
    assert len(ranked) <= max_actions
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    keys = [(-r.priority, r.action) for r in ranked]
    assert keys == sorted(keys)
    outranked = [e for e in excluded if e.reason is ExclusionReason.OUTRANKED]
    if outranked:
        assert len(ranked) == max_actions
        assert all((-e.priority, e.action) > keys[-1] for e in outranked)

    # The priority is the product of its parts; parts switched off are 1.
    used = set(arbitration_settings.priority_parts)
    by_name = {a.name: a for a in catalogue}
    for r in ranked:
        parts = r.score
        assert r.priority == parts.propensity * parts.context_weight * parts.value * parts.lever
        source = by_name[r.action]
        assert parts.value == (source.value if PriorityPart.VALUE in used else 1.0)
        assert parts.propensity == (
            source.base_propensity if PriorityPart.PROPENSITY in used else 1.0
        )
        assert r.channel in source.channels
        assert not r.channel.needs_consent or grants[r.channel]

    # No limit exceeded: history within the period plus this decision's contacts.
    assert {(c.action, c.channel) for c in verdict.contacts} == {
        (r.action, r.channel) for r in ranked if r.channel.can_be_sent
    }
    for limit in contact_limits:
        recent = [c for c in contacts if c.time > NOW - limit.period]
        before = sum(limit.counts(c.channel, c.purpose) for c in recent)
        added = sum(limit.counts(c.channel, c.purpose) for c in verdict.contacts)
        assert added == 0 or before + added <= limit.max_contacts

    # Deterministic: the catalogue's order changes nothing.
    shuffled = list(catalogue)
    random.Random(seed).shuffle(shuffled)
    again = run(shuffled, contact_limits, contacts, arbitration_settings, grants, max_actions)
    assert again.ranked == ranked and again.excluded == excluded


RULE = SuppressionRule(OutcomeType.IMPRESSION, 3, timedelta(days=7), timedelta(days=14))


def impressions(*days_ago: float) -> list[PastOutcome]:
    return [
        PastOutcome("workspaces/default/actions/a", OutcomeType.IMPRESSION, NOW - timedelta(days=d))
        for d in days_ago
    ]


A = action("a", (Channel.INBOUND,), "service", 1.0, 1.0, 0.5, ())


def test_three_impressions_in_a_week_suppress_for_two_weeks():
    assert suppressed_until(A, [RULE], impressions(1, 2), NOW) is None
    rule, until = suppressed_until(A, [RULE], impressions(1, 2, 3), NOW)
    assert rule is RULE and until == NOW - timedelta(days=1) + timedelta(days=14)
    # Spread over more than the window: not suppressed.
    assert suppressed_until(A, [RULE], impressions(1, 5, 9), NOW) is None
    # Reached 20 days ago: the 14 days are over.
    assert suppressed_until(A, [RULE], impressions(20, 21, 22), NOW) is None
    # Reached 10 days ago (three within a week back then), still suppressed.
    _, until = suppressed_until(A, [RULE], impressions(10, 12, 15), NOW)
    assert until == NOW + timedelta(days=4)
    # Other actions' outcomes and other types do not count.
    other = [PastOutcome("workspaces/default/actions/b", OutcomeType.IMPRESSION, NOW)] * 3
    rejects = [PastOutcome(A.name, OutcomeType.REJECT, NOW)] * 3
    assert suppressed_until(A, [RULE], other + rejects, NOW) is None


def test_suppression_rules_select_actions_by_tag():
    tagged = SuppressionRule(OutcomeType.REJECT, 1, timedelta(days=7), timedelta(days=1), ("vip",))
    rejected = [PastOutcome(A.name, OutcomeType.REJECT, NOW)]
    assert suppressed_until(A, [tagged], rejected, NOW) is None
    vip = action("a", (Channel.INBOUND,), "service", 1.0, 1.0, 0.5, ("vip",))
    assert suppressed_until(vip, [tagged], rejected, NOW) is not None


@given(
    days_ago=st.lists(st.floats(min_value=0, max_value=40), max_size=8),
    count=st.integers(min_value=1, max_value=4),
    window=st.integers(min_value=1, max_value=10),
    duration=st.integers(min_value=1, max_value=20),
)
def test_suppression_matches_a_brute_force_count(days_ago, count, window, duration):
    rule = SuppressionRule(
        OutcomeType.IMPRESSION, count, timedelta(days=window), timedelta(days=duration)
    )
    outcomes = impressions(*days_ago)
    times = [o.time for o in outcomes]
    # Suppressed now iff at some outcome time t within the last `duration`, the count
    # within (t - window, t] had reached `count`.
    expected = any(
        NOW < t + rule.duration and sum(1 for u in times if t - rule.window < u <= t) >= count
        for t in times
    )
    assert (suppressed_until(A, [rule], outcomes, NOW) is not None) is expected
