"""Identity rules: defaults, validation, normalisation and folding, blocked values (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from rapport.errors import InvalidArgument
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.domain.model import Identifier
from rapport.identity.domain.rules import (
    MAX_LIMIT_WINDOW,
    IdentifierTypeRule,
    IdentityRules,
    MatchingThresholds,
    Normalization,
    fold_email_provider,
    rules_from_data,
    rules_to_data,
    validate_rules,
)

DEFAULTS = load_default_rules(None, default_phone_region="GB")


def test_defaults_follow_segment() -> None:
    assert [r.type for r in DEFAULTS.identifier_types] == [
        "user_id",
        "email",
        "phone",
        "device_id",
        "anonymous_id",
    ]
    assert {r.type: r.limit for r in DEFAULTS.identifier_types} == {
        "user_id": 1,
        "email": 5,
        "phone": 5,
        "device_id": 5,
        "anonymous_id": 5,
    }
    email = DEFAULTS.rule("email")
    assert email is not None
    assert email.normalization is Normalization.EMAIL and not email.fold_email_provider
    phone = DEFAULTS.rule("phone")
    assert phone is not None and phone.default_phone_region == "GB"  # from the setting
    assert DEFAULTS.matching == MatchingThresholds(0.99, 0.8)
    assert DEFAULTS.update_time is None


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("user_id", "null"),
        ("user_id", "NULL"),
        ("user_id", "None"),
        ("user_id", "undefined"),
        ("user_id", "nil"),
        ("user_id", "N/A"),
        ("user_id", "Anonymous"),
        ("user_id", "unknown"),
        ("user_id", "-1"),
        ("user_id", "0"),
        ("user_id", "00000"),
        ("user_id", "--"),
        ("anonymous_id", "undefined"),
        ("device_id", "00000000-0000-0000-0000-000000000000"),
        ("email", "test@example.com"),
        ("email", "noreply@example.org"),
        ("email", "undefined"),
    ],
)
def test_default_blocked_values(type_: str, value: str) -> None:
    assert DEFAULTS.is_blocked(Identifier(type_, value))


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("user_id", "u1"),
        ("user_id", "nullable"),
        ("user_id", "10"),
        ("user_id", "-12"),
        ("email", "ann@example.com"),
        ("phone", "+442079460958"),
        ("device_id", "0a1b"),
    ],
)
def test_ordinary_values_are_not_blocked(type_: str, value: str) -> None:
    assert not DEFAULTS.is_blocked(Identifier(type_, value))


def test_leading_flags_stay_with_their_pattern_when_combined() -> None:
    rule = IdentifierTypeRule("t", Normalization.TRIM, blocked_patterns=("(?i)abc|def", "x+"))
    assert rule.is_blocked("ABC") and rule.is_blocked("xxx") and rule.is_blocked("DEF")
    assert not rule.is_blocked("xa") and not rule.is_blocked("XXX")  # (?i) ends with its pattern


@pytest.mark.parametrize(
    ("local", "domain", "expected"),
    [
        ("john.smith+news", "gmail.com", ("johnsmith", "gmail.com")),
        ("j.o.h.n", "googlemail.com", ("john", "gmail.com")),
        ("john.smith+news", "example.com", ("john.smith", "example.com")),
        ("plain", "example.com", ("plain", "example.com")),
    ],
)
def test_email_provider_folding(local: str, domain: str, expected: tuple[str, str]) -> None:
    assert fold_email_provider(local, domain) == expected


def test_folding_applies_only_when_enabled() -> None:
    folded = rules_with(DEFAULTS, "email", fold_email_provider=True)
    assert folded.normalise("email", " J.Smith+x@GoogleMail.com", field="f") == Identifier(
        "email", "jsmith@gmail.com"
    )
    assert DEFAULTS.normalise("email", "J.Smith+x@gmail.com", field="f") == Identifier(
        "email", "j.smith+x@gmail.com"
    )


def test_phone_uses_the_rule_region_and_lowercase_normalisation() -> None:
    assert DEFAULTS.normalise("phone", "020 7946 0958", field="f").value == "+442079460958"
    lower = IdentityRules((IdentifierTypeRule("crm_id", Normalization.LOWERCASE),))
    assert lower.normalise("crm_id", " AbC ", field="f") == Identifier("crm_id", "abc")


def test_unknown_type_is_refused_naming_the_type_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        DEFAULTS.normalise("fax", "1", field="identifiers[3]")
    assert caught.value.field == "identifiers[3].type"


def rules_with(rules: IdentityRules, type_: str, **changes: object) -> IdentityRules:
    return replace(
        rules,
        identifier_types=tuple(
            replace(r, **changes) if r.type == type_ else r for r in rules.identifier_types
        ),
    )


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (replace(DEFAULTS, identifier_types=()), "identity_rules.identifier_types"),
        (rules_with(DEFAULTS, "email", type="Email"), "identity_rules.identifier_types[1].type"),
        (rules_with(DEFAULTS, "email", type="user_id"), "identity_rules.identifier_types[1].type"),
        (rules_with(DEFAULTS, "email", type=""), "identity_rules.identifier_types[1].type"),
        (
            rules_with(DEFAULTS, "phone", normalization=Normalization.UNSPECIFIED),
            "identity_rules.identifier_types[2].normalization",
        ),
        (
            rules_with(DEFAULTS, "phone", default_phone_region="XX"),
            "identity_rules.identifier_types[2].default_phone_region",
        ),
        (rules_with(DEFAULTS, "phone", limit=-1), "identity_rules.identifier_types[2].limit"),
        (
            rules_with(DEFAULTS, "phone", limit_window=timedelta(seconds=-1)),
            "identity_rules.identifier_types[2].limit_window",
        ),
        (
            rules_with(DEFAULTS, "device_id", blocked_patterns=("ok", "(unclosed")),
            "identity_rules.identifier_types[3].blocked_patterns[1]",
        ),
        (
            replace(DEFAULTS, matching=MatchingThresholds(1.5, 0.8)),
            "identity_rules.matching.merge_threshold",
        ),
        (
            replace(DEFAULTS, matching=MatchingThresholds(0.7, 0.8)),
            "identity_rules.matching.review_threshold",
        ),
        (
            replace(DEFAULTS, matching=MatchingThresholds(0.0, -0.1)),
            "identity_rules.matching.review_threshold",
        ),
    ],
)
def test_invalid_rules_name_the_field(rules: IdentityRules, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_rules(rules)
    assert caught.value.field == field


def test_zero_thresholds_mean_the_defaults() -> None:
    validated = validate_rules(replace(DEFAULTS, matching=MatchingThresholds(0.0, 0.0)))
    assert validated.matching == MatchingThresholds(0.99, 0.8)
    validated = validate_rules(replace(DEFAULTS, matching=MatchingThresholds(0.0, 0.5)))
    assert validated.matching == MatchingThresholds(0.99, 0.5)


def test_plain_data_round_trip() -> None:
    rules = rules_with(DEFAULTS, "anonymous_id", limit_window=timedelta(days=7), limit=2)
    assert rules_from_data(rules_to_data(rules)) == rules


def test_a_longer_window_stored_by_an_earlier_release_is_read_as_the_longest_one() -> None:
    data = rules_to_data(rules_with(DEFAULTS, "anonymous_id", limit_window=timedelta(days=7)))
    data["identifier_types"][4]["limit_window_seconds"] = 1e15  # beyond any timedelta
    [*_, anonymous] = rules_from_data(data).identifier_types
    assert anonymous.limit_window == MAX_LIMIT_WINDOW == timedelta(days=3650)


def test_a_broken_defaults_file_fails_loudly(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("identifier_types:\n  - type: email\n    normalization: SHOUT\n")
    with pytest.raises(ValueError, match="invalid"):
        load_default_rules(path, default_phone_region="US")
