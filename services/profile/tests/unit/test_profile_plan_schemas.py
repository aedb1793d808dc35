"""Tracking-plan schemas run their regular expressions with RE2: linear time whatever
the pattern, the same answers as jsonschema's own validator for patterns both accept,
and patterns RE2 cannot run refused with where they are."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from rapport.profile.domain.plan_schemas import PlanSchemaValidator, RegexRefused, check_patterns


def test_a_catastrophic_pattern_finishes() -> None:
    # With Python's re this takes longer than the age of the universe (the suite's
    # per-test timeout would fail it).
    schema = {
        "properties": {"code": {"pattern": "^(a+)+$"}},
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    validator = PlanSchemaValidator(schema)
    evil = "a" * 30_000 + "b"
    messages = [e.message for e in validator.iter_errors({"code": evil, "x" * 30_000 + "y": 1})]
    assert len(messages) == 2
    assert any("does not match" in m for m in messages)
    assert any(
        "do not match any of the regexes" in m or "does not match any" in m for m in messages
    )


_PIECES = st.sampled_from(
    ["a", "b", "ab", "^", "$", "a*", "b+", "[ab]", "(a|b)", ".", "\\d", "[0-9]{2}"]
)
_patterns = st.lists(_PIECES, min_size=1, max_size=4).map("".join)
_texts = st.text(alphabet="ab019 ", max_size=8)


@given(
    pattern=_patterns,
    keyed=st.dictionaries(_texts, st.one_of(st.integers(), _texts), max_size=4),
    closed=st.booleans(),
)
def test_same_answers_as_jsonschema_for_patterns_both_run(
    pattern: str, keyed: dict[str, Any], closed: bool
) -> None:
    schema: dict[str, Any] = {
        "properties": {"name": {"type": "string", "pattern": pattern}},
        "patternProperties": {pattern: {"type": "integer"}},
        "additionalProperties": not closed,
    }
    for instance in (keyed, {**keyed, "name": next(iter(keyed), "")}):
        ours = sorted(e.message for e in PlanSchemaValidator(schema).iter_errors(instance))
        theirs = sorted(e.message for e in Draft202012Validator(schema).iter_errors(instance))
        assert ours == theirs


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"properties": {"a": {"pattern": "(x)\\1"}}}, "plan.properties.a.pattern"),
        ({"patternProperties": {"(?=x)": {}}}, 'plan.patternProperties["(?=x)"]'),
        (
            {"items": [{"patternProperties": {"a": {}}, "unevaluatedProperties": False}]},
            "plan.items[0].unevaluatedProperties",
        ),
    ],
)
def test_what_re2_cannot_run_is_refused_with_where(schema: dict[str, Any], where: str) -> None:
    with pytest.raises(RegexRefused) as refused:
        check_patterns(schema, "plan")
    assert refused.value.where == where


def test_values_are_not_taken_for_schemas() -> None:
    check_patterns({"const": {"pattern": "(x)\\1"}, "enum": [{"pattern": "(?=x)"}]}, "plan")
