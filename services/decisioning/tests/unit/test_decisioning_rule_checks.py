"""Rules as they are saved (positions of errors, names they may use) and evaluated (one
environment per decision, date helpers, the customer's local time)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from rapport.celrules import check_may_be_bool
from rapport.decisioning.domain.rule_helpers import (
    HELPER_FUNCTIONS,
    helper_functions,
    local_time,
    time_zone,
    to_date,
)
from rapport.decisioning.domain.rules import (
    CONDITION_VARIABLES,
    ENGAGEMENT_VARIABLES,
    RuleBook,
    RuleEvaluationError,
    RuleSyntaxError,
)

UTC_ZONE = time_zone("UTC")
TODAY = date(2026, 3, 1)


def check(expression: str, variables=ENGAGEMENT_VARIABLES) -> None:
    RuleBook().check(expression, variables, HELPER_FUNCTIONS)


@pytest.mark.parametrize(
    ("expression", "line", "column"),
    [
        ("1 +", 1, 4),
        ("profile.traits.age > 18 &&\n  (context.page == 'home'", 2, 26),
    ],
)
def test_syntax_errors_carry_their_line_and_column(expression, line, column):
    with pytest.raises(RuleSyntaxError) as caught:
        check(expression)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith(f"line {line}, column {column}: Syntax error")
    # The whole expression is not repeated in the message.
    assert "Failed to parse" not in str(caught.value)


def test_unknown_variables_are_refused_where_they_are():
    with pytest.raises(RuleSyntaxError) as caught:
        check("profile.traits.age > 18 &&\n   profil.traits.x == 1")
    assert (caught.value.line, caught.value.column) == (2, 4)
    assert "undeclared reference to 'profil'" in str(caught.value)
    # Trigger conditions read `event`, not `context`.
    with pytest.raises(RuleSyntaxError, match="'context'"):
        check("context.page == 'x'", CONDITION_VARIABLES)
    check("event.properties.days_left <= 30", CONDITION_VARIABLES)


def test_unknown_functions_are_refused_where_they_are():
    with pytest.raises(RuleSyntaxError) as caught:
        check("'max(' == 'x' || max(1, 2) > 1")
    # The string literal is not mistaken for the call.
    assert (caught.value.line, caught.value.column) == (1, 18)
    assert "unknown function 'max'" in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        "profile.segments.exists(s, s == 'gold')",
        "[1, 2].all(x, x > 0) && profile.traits.tags.filter(t, t == 'a').size() == 1",
        "days_until(profile.traits.renewal) == 30 && years_since(profile.traits.born) >= 18",
        "add_years(profile.traits.born, 26) > '2030-01-01'",
        "has(profile.traits.email) && profile.traits.email.endsWith('.com')",
        "timestamp('2026-01-01T00:00:00Z') < context.now && duration('1h') > duration('1m')",
        "action.tags.exists(t, t == 'renewal') && context.local_time.hour >= 9",
    ],
)
def test_what_rules_may_use_is_accepted(expression):
    check(expression)


@pytest.mark.parametrize(
    ("expression", "line", "column", "why"),
    [
        ('profile.traits.x + "a"', 1, 18, "has '+' at its top level"),
        ("1 + 2", 1, 3, "has '+' at its top level"),
        ("(profile.traits.age\n  * 2)", 2, 3, "has '*' at its top level"),
        ("profile.traits.a - -1", 1, 18, "has '-' at its top level"),
        ("profile.traits.a % 2", 1, 18, "has '%' at its top level"),
        ("-profile.traits.a", 1, 1, "is a negated number"),
        ('"abc"', 1, 1, "is a string"),
        ("((r'a\\')) // note", 1, 3, "is a string"),
        ("b'abc'", 1, 1, "is bytes"),
        ("42", 1, 1, "is a number"),
        ("1.5e3", 1, 1, "is a number"),
        ("null", 1, 1, "is null"),
        ("[true]", 1, 1, "is a list"),
        ("{'a': true}", 1, 1, "is a map"),
        ("has(profile.traits.a) ? 1 : true", 1, 25, "is a number"),
        ("profile.traits.a ? true : profile.traits.b ? false : 'x'", 1, 54, "is a string"),
    ],
)
def test_a_rule_that_can_never_be_a_bool_is_refused_where_it_is(expression, line, column, why):
    with pytest.raises(RuleSyntaxError) as caught:
        check(expression)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert why in str(caught.value) and "never true or false" in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        "true",
        "profile.traits.vip",
        "profile.traits.a + 1 > 2 || profile.traits.b",
        "profile.traits.a - 1 == 0",
        "-profile.traits.a < 0",
        "'a' + 'b' in profile.traits.tags",
        "!profile.traits.opted_out",
        "(profile.traits.vip)",
        "[true, false][1]",
        "[1, 2].exists(x, x > 1)",
        "{'a': true}['a']",
        "'abc'.startsWith('a')",
        "'1 + 2' == profile.traits.s",
        "has(profile.traits.a) ? profile.traits.a : false",
        "dyn(profile.traits.flag)",
        "profile.traits.x ? 1 < 2 : (true)",
    ],
)
def test_a_rule_that_may_be_a_bool_is_accepted(expression):
    check(expression)


def test_the_shape_check_does_not_recurse_on_nesting():
    # The parser stops at 96 levels; the check itself is bounded by the rule's length only.
    check_may_be_bool("(" * 1500 + "profile.traits.vip" + ")" * 1500)
    with pytest.raises(RuleSyntaxError, match="is a number"):
        check_may_be_bool("profile.traits.x ? true : " * 1500 + "1")


def test_a_rule_reading_no_action_is_evaluated_once_per_decision():
    calls = []

    def days_until(value):
        calls.append(value)
        return 3

    env = RuleBook().environment(
        {"profile": {"traits": {"d": "2026-03-04"}}}, {"days_until": days_until}
    )
    for name in ("a", "b", "c"):
        assert env.evaluate("days_until(profile.traits.d) == 3", {"name": name}) is True
        assert env.evaluate("action.name == 'b'", {"name": name}) is (name == "b")
    assert calls == ["2026-03-04"]


def test_errors_of_a_shared_rule_are_kept_too():
    env = RuleBook().environment({"profile": {"traits": {}}}, {})
    for _ in range(2):
        with pytest.raises(RuleEvaluationError, match="no such key: age"):
            env.evaluate("profile.traits.age > 1")


def test_no_rule_no_conversion():
    class Unconvertible:
        pass

    env = RuleBook().environment({"profile": Unconvertible()}, {})
    assert env.evaluate("  ") is True  # the profile is converted on the first real rule only


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-31", 30),
        ("2026-03-01T23:30:00+00:00", 0),
        ("2026-03-01T23:30:00Z", 0),
        (datetime(2026, 2, 28, 12, tzinfo=UTC), -1),
    ],
)
def test_days_until(value, expected):
    assert helper_functions(TODAY, UTC_ZONE)["days_until"](value) == expected


def test_date_helpers():
    helpers = helper_functions(TODAY, UTC_ZONE)
    assert helpers["days_since"]("2026-02-01") == 28
    assert helpers["years_since"]("2000-03-02") == 25  # the birthday is tomorrow
    assert helpers["years_since"]("2000-03-01") == 26
    assert helpers["add_years"]("2000-02-29", 26) == "2026-02-28"
    assert helpers["add_years"]("2000-05-17", 26.0) == "2026-05-17"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("days_until", ("soon",)),
        ("days_until", (42,)),
        ("days_until", ("x" * 1000,)),
        ("add_years", ("2000-01-01", 1.5)),
        ("add_years", ("2000-01-01", 9000)),
    ],
)
def test_helpers_refuse_without_echoing_the_value(name, args):
    with pytest.raises(ValueError) as caught:
        helper_functions(TODAY, UTC_ZONE)[name](*args)
    assert str(args[0]) not in str(caught.value)


def test_helpers_inside_rules_fail_as_rule_errors():
    env = RuleBook().environment(
        {"profile": {"traits": {"d": "not a date"}}}, helper_functions(TODAY, UTC_ZONE)
    )
    with pytest.raises(RuleEvaluationError):
        env.evaluate("days_until(profile.traits.d) < 30")


def test_local_time_in_the_customer_zone():
    paris = time_zone("Europe/Paris")
    moment = datetime(2026, 7, 5, 22, 30, tzinfo=UTC)  # a Sunday in UTC, Monday in Paris
    assert local_time(moment, paris) == {
        "date": "2026-07-06",
        "hour": 0,
        "minute": 30,
        "weekday": 1,
        "time_zone": "Europe/Paris",
    }
    assert to_date(moment, paris) == date(2026, 7, 6)


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "../etc/passwd", "/etc/passwd", "Europe", "x" * 300, "fz-1"]
)
def test_unknown_time_zones(name):
    assert time_zone(name) is None
