"""CEL rules of segments and life stages: what they read, when they depend on time,
the date helpers, and refusals located by line and column."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.profile.domain.rules import (
    LIFE_STAGE_VARIABLES,
    Evaluator,
    Facts,
    RuleCompiler,
    RuleSyntaxError,
    time_helpers,
)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_rules_name_the_trait_keys_they_read() -> None:
    compiler = RuleCompiler()
    assert compiler.compile('traits.plan == "pro" && traits["seats"] > 3.0').trait_keys == {
        "plan",
        "seats",
    }
    # Reading `traits` as a whole: every key may matter.
    assert compiler.compile('"plan" in traits').trait_keys is None
    assert compiler.compile('life_stage == "lead"').trait_keys == frozenset()


def test_rules_name_the_computed_trait_keys_they_read() -> None:
    compiler = RuleCompiler()
    both = compiler.compile(
        'has(computed_traits.orders) && computed_traits["top sku"] == "a" && traits.x > 1.0'
    )
    assert both.computed_keys == {"orders", "top sku"}
    assert both.trait_keys == {"x"}
    # Reading `computed_traits` as a whole: every key may matter.
    assert compiler.compile("size(computed_traits) > 2").computed_keys is None
    assert compiler.compile('computed_traits.a > 1 && "b" in computed_traits').computed_keys is None
    assert compiler.compile("traits.orders > 1.0").computed_keys == frozenset()


_CEL_RESERVED = frozenset(
    "false in null true as break const continue else for function if import let loop "
    "package namespace return var void while".split()
)


@given(
    st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True).filter(lambda k: k not in _CEL_RESERVED)
)
def test_a_named_computed_key_is_found_and_not_taken_for_a_trait(key: str) -> None:
    rule = RuleCompiler().compile(f"computed_traits.{key} == 1 || computed_traits['{key}'] == 2")
    assert rule.computed_keys == {key}
    assert rule.trait_keys == frozenset()


@pytest.mark.parametrize(
    ("text", "time_dependent"),
    [
        ('traits.plan == "pro"', False),
        ("days_until(traits.renewal) <= 30", True),
        ("now > timestamp(traits.deadline)", True),
        ("computed_traits.orders > 2", True),  # windows slide
    ],
)
def test_time_dependence(text: str, time_dependent: bool) -> None:
    assert RuleCompiler().compile(text).time_dependent is time_dependent


def test_refusals_are_located() -> None:
    compiler = RuleCompiler()
    with pytest.raises(RuleSyntaxError) as caught:
        compiler.compile('traits.plan == "pro" &&\n  stage == 1')
    assert (caught.value.line, caught.value.column) == (2, 3)
    with pytest.raises(RuleSyntaxError, match="life_stage"):
        compiler.compile('life_stage == "x"', LIFE_STAGE_VARIABLES)
    with pytest.raises(RuleSyntaxError, match="longer than"):
        compiler.compile("true || " * 600 + "true")


def test_a_rule_failing_on_a_profile_does_not_match_it() -> None:
    rule = RuleCompiler().compile("traits.seats > 3.0")
    judge = Evaluator(NOW).judge
    assert judge(Facts({"seats": 4.0}, {}))(rule)
    assert not judge(Facts({}, {}))(rule)  # missing
    assert not judge(Facts({"seats": "many"}, {}))(rule)  # another type
    assert not judge(Facts({"renewal": "2026-13-45"}, {}))(
        RuleCompiler().compile("days_until(traits.renewal) < 3")
    )


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)))
def test_days_until_and_since_count_whole_days(day: date) -> None:
    helpers = time_helpers(NOW)
    until = helpers["days_until"](day.isoformat())
    since = helpers["days_since"](day.isoformat())
    # NOW is noon: a date is never a whole number of days away, so they add to -1.
    assert until + since == -1
    assert since == (NOW.date() - day).days
