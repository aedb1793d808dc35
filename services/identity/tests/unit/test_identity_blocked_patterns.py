"""Blocked patterns run by RE2: no pattern stalls identity, Python's meanings kept (pure)."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rapport.errors import InvalidArgument
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.domain.blocked_patterns import BlockedMatcher, PatternRefused, translate
from rapport.identity.domain.rules import (
    IdentifierTypeRule,
    IdentityRules,
    Normalization,
    rules_from_data,
    rules_to_data,
    validate_rules,
)
from rapport.identity.service_layer.rules_cache import warn_unusable_patterns

DEFAULTS = load_default_rules(None, default_phone_region="GB")
DEFAULT_PATTERNS = sorted(
    {pattern for rule in DEFAULTS.identifier_types for pattern in rule.blocked_patterns}
)


def rules_blocking(*patterns: str) -> IdentityRules:
    return IdentityRules(
        (IdentifierTypeRule("device_id", Normalization.TRIM, blocked_patterns=patterns),)
    )


def test_nested_quantifiers_answer_at_once() -> None:
    """(a+)+ took 5 s on 25 characters with Python's re (doubling with each one more)."""
    rule = rules_blocking("(a+)+").identifier_types[0]
    assert not rule.is_blocked("a" * 5000 + "!")
    assert rule.is_blocked("a" * 5000)


@pytest.mark.parametrize("pattern", DEFAULT_PATTERNS)
@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=12) | st.text(alphabet="0_-. /éİıiInNlLuU\u00a0\u3000", max_size=8))
@example(value="éé")
@example(value="١٢")  # Arabic-Indic digits: \W does not match them, in Python as here
@example(value="NıL")  # Python's (?i) puts ı and İ with i
@example(value="UNDEFİNED")
@example(value="\u00a0_\u3000")
def test_defaults_mean_what_they_meant_to_python(pattern: str, value: str) -> None:
    expected = re.fullmatch(pattern, value) is not None
    assert BlockedMatcher((pattern,)).fullmatch(value) is expected


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (r"\w+", "Ωmega_é"),
        (r"\d+", "١٢٣"),
        (r"\s+", "\u00a0\u2003\u3000"),
        (r"[\W_]+", "¿?_ ·"),
        (r"[^\S]+", "\u2028"),
        (r"a{,2}", "aa"),  # Python's {,n}: RE2 would read it as text
        (r"a{,}", "aaa"),
        (r"[[:x]]", ":]"),  # "[" in a class is a literal in Python, not a POSIX class
        (r"\u00e9\N{EM DASH}\x41\101\Z", "é—AA"),
        (r"(?i)[h-j]nfo", "İNFO"),
        (r"(?i:x)y", "Xy"),
    ],
)
def test_python_meanings_are_kept(pattern: str, value: str) -> None:
    assert re.fullmatch(pattern, value) is not None
    assert BlockedMatcher((pattern,)).fullmatch(value)


def test_python_class_negations_are_kept() -> None:
    assert not re.fullmatch(r"(?i:x)y", "XY")
    assert not BlockedMatcher((r"(?i:x)y",)).fullmatch("XY")
    assert not BlockedMatcher((r"[\W_]*",)).fullmatch("éé")
    assert not BlockedMatcher((r"a{,2}",)).fullmatch("a{,2}")


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        (r"(a)\1", "back-references"),
        (r"(?P<x>a)(?P=x)", "back-references"),
        (r"(?=a)a", "look-ahead"),
        (r"(?<!a)b", "look-behind"),
        (r"\bnull\b", "[^\\w]"),
        (r"a*+", "possessive"),
        (r"(?>a)", "write (?:...)"),
        (r"(?a)\w", "use i, m or s"),
        (r"\C", "unknown escape"),
        ("(unclosed", "RE2"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_when_saved(pattern: str, hint: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_rules(rules_blocking("ok", pattern))
    assert caught.value.field == "identity_rules.identifier_types[0].blocked_patterns[1]"
    assert hint in caught.value.description


def test_stored_patterns_re2_cannot_run_are_ignored_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Saved when Python's re ran them: the rules still load and the rest still block."""
    stored = rules_to_data(rules_blocking(r"(a)\1", "0+"))
    rules = rules_from_data(stored)
    rule = rules.identifier_types[0]
    assert rule.blocked_patterns == (r"(a)\1", "0+")  # still shown to be fixed
    assert rule.is_blocked("000") and not rule.is_blocked("aa")
    assert [index for index, _ in rule.unusable_patterns] == [0]
    with caplog.at_level(logging.WARNING):
        warn_unusable_patterns(rules, workspace="workspaces/w1")
    assert "RE2 cannot run" in caplog.text


def test_values_with_lone_surrogates_are_matched_not_crashed() -> None:
    assert BlockedMatcher((r"[\W_]*",)).fullmatch("\ud800-")
    assert not BlockedMatcher(("a+",)).fullmatch("\ud800")


def test_translation_writes_unicode_classes_out() -> None:
    translated = translate(r"[\W_]*")
    assert translated.startswith("[") and r"\x{5f}" in translated
    with pytest.raises(PatternRefused):
        translate("a\\")


def test_rules_writing_out_too_many_unicode_classes_are_refused() -> None:
    """Each \\w is ~12,000 characters for RE2: 64 patterns of 300 took 10 s to compile."""
    validate_rules(rules_blocking(*DEFAULT_PATTERNS, r"\w+@\w+\.\w+"))
    with pytest.raises(InvalidArgument) as caught:
        validate_rules(rules_blocking("ok", r"\w" * 50, r"\W" * 50))
    assert caught.value.field == "identity_rules.identifier_types[0].blocked_patterns[2]"
    assert "[a-z0-9_]" in caught.value.description
