"""Which segment rules a customer's change re-evaluates (RuleIndex), and the facts
narrowed to what rules read (Reads) giving the same answers as the whole facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rapport.profile.domain.rules import (
    Evaluator,
    FactChange,
    Facts,
    Reads,
    RuleCompiler,
    RuleIndex,
)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
RULES = [
    'traits.plan == "pro"',  # 0: one trait key
    "days_until(traits.renewal_date) <= 30",  # 1: a trait key, time-dependent
    '"vip" in traits',  # 2: traits read whole
    'traits.exists(k, k == "vip")',  # 3: a macro over the map: read whole
    "has(computed_traits.views) && computed_traits.views != 0",  # 4: one computed key
    "size(computed_traits) > 2",  # 5: computed traits read whole
    'life_stage == "lead"',  # 6: the stage
    'now > timestamp("2026-01-01T00:00:00Z")',  # 7: time alone
    'traits.seats > 3.0 && computed_traits["top sku"] == "a"',  # 8: both, named
]


@pytest.fixture
def index() -> RuleIndex:
    compiler = RuleCompiler()
    return RuleIndex([compiler.compile(text) for text in RULES])


def test_a_rule_naming_a_trait_is_re_evaluated_only_when_that_trait_changes(
    index: RuleIndex,
) -> None:
    assert index.affected(FactChange(trait_keys={"plan"})) == [0, 2, 3]
    assert index.affected(FactChange(trait_keys={"renewal_date"})) == [1, 2, 3]
    assert index.affected(FactChange(trait_keys={"seats", "email"})) == [2, 3, 8]
    assert index.affected(FactChange()) == []


def test_a_rule_naming_a_computed_trait_is_re_evaluated_only_when_it_changes(
    index: RuleIndex,
) -> None:
    assert index.affected(FactChange(computed=True, computed_keys={"views"})) == [4, 5]
    assert index.affected(FactChange(computed=True, computed_keys={"spent"})) == [5]
    assert index.affected(FactChange(computed=True, computed_keys={"top sku"})) == [5, 8]
    # Which computed traits changed is not known: every rule reading them.
    assert index.affected(FactChange(computed=True)) == [4, 5, 8]
    # Keys named without the flag change nothing.
    assert index.affected(FactChange(computed_keys={"views"})) == []


def test_stage_and_everything_select_their_rules(index: RuleIndex) -> None:
    assert index.affected(FactChange(life_stage=True)) == [6]
    assert index.affected(FactChange(everything=True)) == tuple(range(len(RULES)))
    # Time alone is no change: rules depending on it wait for their schedule.
    assert 7 not in index.affected(FactChange(trait_keys={"plan"}, computed=True, life_stage=True))


def test_methods_and_escaped_keys_read_the_map_whole() -> None:
    compiler = RuleCompiler()
    assert compiler.compile('traits.exists(k, k == "vip")').trait_keys is None
    assert compiler.compile("traits.size() > 1").trait_keys is None
    assert compiler.compile('traits["a\\x41"] == 1').trait_keys is None
    assert compiler.compile('traits.plan.startsWith("p")').trait_keys == {"plan"}
    assert compiler.compile("computed_traits.all(k, k != 'x')").computed_keys is None


FACTS = [
    Facts({}, {}),
    Facts({"plan": "pro", "seats": 5, "vip": True}, {"views": 3, "top sku": "a"}, "lead"),
    Facts(
        {"plan": "team", "renewal_date": "2026-12-10", "email": "a@example.com"},
        {"views": 0, "spent": 9.5, "top sku": "b", "orders": 2},
    ),
]


@pytest.mark.parametrize("facts", FACTS)
@pytest.mark.parametrize(
    "positions", [[0], [1, 2], [4], [4, 8], [0, 1, 4, 8], [3], [5, 6], list(range(len(RULES)))]
)
def test_narrowed_facts_give_the_same_answers(
    index: RuleIndex, facts: Facts, positions: list[int]
) -> None:
    reads = index.reads(positions)
    whole = Evaluator(NOW).judge(facts)
    narrowed = Evaluator(NOW).judge(reads.narrowed(facts), reads.variables)
    for i in positions:
        assert narrowed(index.rules[i]) == whole(index.rules[i]), RULES[i]


def test_reads_name_the_keys_rules_read(index: RuleIndex) -> None:
    reads = index.reads([0, 4, 8])
    assert reads.trait_keys == {"plan", "seats"}
    assert reads.computed_keys == {"views", "top sku"}
    assert reads.variables == {"traits", "computed_traits"}
    assert index.reads([0, 2]).trait_keys is None
    narrowed = reads.narrowed(FACTS[1])
    assert narrowed.traits == {"plan": "pro", "seats": 5}
    assert narrowed.computed_traits == {"views": 3, "top sku": "a"}
    assert Reads.of([]).narrowed(FACTS[1]).traits == {}
