"""rapport.celrules: what a rule must pass to be saved, and where its error is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.celrules import (
    MAX_RULE_CHARS,
    RuleSyntaxError,
    compile_checked,
    compile_located,
    locate,
)


def test_a_rule_over_declared_names_compiles_and_runs() -> None:
    program = compile_checked('traits.plan == "gold" && days(1) > 0', {"traits"}, {"days"})
    assert set(program.variables()) == {"traits"}


def test_a_syntax_error_is_located_on_its_line_and_column() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        compile_located("1 +\n  (2 *")
    assert caught.value.line == 2 and caught.value.column > 0
    assert str(caught.value).startswith("line 2, column ")


def test_an_undeclared_name_is_refused_where_it_stands_outside_strings() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        compile_checked('"profile" == x &&\n  profile.age > 3', {"x"})
    assert "'profile'" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 3)


def test_names_bound_by_macros_and_native_functions_are_allowed() -> None:
    compile_checked("items.exists(i, i.size() > 2) && has(items.a)", {"items"})


def test_an_unknown_function_is_refused_with_its_position() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        compile_checked("a &&\nshout(a)", {"a"})
    assert "unknown function 'shout'" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 1)


@pytest.mark.parametrize(
    "text", ["x" * (MAX_RULE_CHARS + 1), "a\x00", "1 + + ", "((((", "'unterminated"]
)
def test_unusable_rules_are_refused_not_crashed_on(text: str) -> None:
    with pytest.raises(RuleSyntaxError):
        compile_checked(text, {"a", "x"})


@given(st.text(max_size=200))
def test_any_text_compiles_or_is_refused_with_a_syntax_error(text: str) -> None:
    try:
        compile_checked(text, {"a", "b"})
    except RuleSyntaxError as err:
        assert err.line >= 0 and err.column >= 0


def test_locate_is_one_based_and_zero_when_absent() -> None:
    assert locate("ab\ncd", "d") == (2, 2)
    assert locate("'d' + 1", "d") == (0, 0)
