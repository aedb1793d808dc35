"""CEL rules: compile once, evaluate to a bool, errors as RuleEvaluationError."""

from __future__ import annotations

import pytest
from rapport.decisioning.domain.rules import (
    MAX_EXPRESSION_CHARS,
    ActionVariable,
    RuleBook,
    RuleEvaluationError,
    RuleSyntaxError,
)

PROFILE = {"profile": {"traits": {"age": 42.0, "email": "x"}, "customer": "c"}, "context": {}}


def test_true_and_false():
    rules = RuleBook()
    assert rules.evaluate("profile.traits.age >= 18", PROFILE) is True
    assert rules.evaluate("profile.traits.age < 18", PROFILE) is False


def test_empty_rule_is_always_true():
    assert RuleBook().evaluate("  ", {}) is True


def test_programs_are_compiled_once():
    rules = RuleBook()
    assert rules.compile("1 == 1") is rules.compile("1 == 1")


def test_cache_is_bounded():
    rules = RuleBook(max_programs=2)
    first = rules.compile("1 == 1")
    rules.compile("2 == 2")
    rules.compile("3 == 3")
    assert rules.compile("1 == 1") is not first


def test_syntax_error():
    with pytest.raises(RuleSyntaxError, match="Syntax error"):
        RuleBook().compile("1 +")


@pytest.mark.parametrize(
    "expression",
    [
        "context.page == 'home'",  # missing key
        "unknown_variable",  # undefined
        "1 / 0 == 1",  # division by zero
        "profile.traits.age",  # not a bool
        "'text'",  # not a bool
    ],
)
def test_evaluation_errors(expression):
    with pytest.raises(RuleEvaluationError) as caught:
        RuleBook().evaluate(expression, PROFILE)
    assert str(caught.value)


def test_missing_key_is_described():
    with pytest.raises(RuleEvaluationError, match="no such key: page"):
        RuleBook().evaluate("context.page == 'home'", PROFILE)


def test_not_a_bool_is_described():
    with pytest.raises(RuleEvaluationError, match="not a bool"):
        RuleBook().evaluate("profile.traits.age", PROFILE)


def test_has_guards_missing_traits():
    assert RuleBook().evaluate("has(profile.traits.phone)", PROFILE) is False


def test_expressions_too_long_for_the_parser_are_refused_unparsed():
    # ~20,000 chained operators overflow the binding's native stack: the process would die.
    bomb = " + ".join(["1"] * 20_000) + " > 0"
    rules = RuleBook()
    with pytest.raises(RuleSyntaxError, match=f"longer than {MAX_EXPRESSION_CHARS}"):
        rules.compile(bomb)
    # A rule stored before the limit existed fails its evaluation instead (RULE_ERROR).
    with pytest.raises(RuleEvaluationError):
        rules.evaluate(bomb, {})
    assert rules.evaluate(" && ".join(["true"] * 500), {}) is True  # 3,996 characters


def test_an_action_variable_gives_the_same_results_as_a_plain_dict():
    rules = RuleBook()
    plain = {"name": "a", "value": 50.0, "tags": ["x", "y"], "channels": ["email"]}
    built = ActionVariable(plain)
    assert built.key() is built.key()  # computed once
    env = rules.environment({"context": {"placement": "home"}}, {})
    for expression in (
        "action.value > 40.0",
        "'x' in action.tags && action.name == 'a'",
        "action.value > 40.0 && context.placement == 'home'",
    ):
        assert env.evaluate(expression, built) is env.evaluate(expression, plain) is True
    # Action-only results are kept across decisions under the variable's content.
    other = ActionVariable({**plain, "value": 10.0})
    fresh = rules.environment({"context": {}}, {})
    assert fresh.evaluate("action.value > 40.0", built) is True
    assert fresh.evaluate("action.value > 40.0", other) is False
