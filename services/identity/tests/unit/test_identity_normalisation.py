"""Normalisation and validation of identifiers (pure domain)."""

from __future__ import annotations

import pytest
from rapport.errors import InvalidArgument
from rapport.identity.domain.model import Identifier
from rapport.identity.domain.rules import (
    MAX_VALUE_LENGTH,
    IdentifierTypeRule,
    IdentityRules,
    Normalization,
)


def plain_rules(types: set[str], default_phone_region: str) -> IdentityRules:
    """Email and phone normalised, everything else trimmed; no limits, nothing blocked."""
    special = {"email": Normalization.EMAIL, "phone": Normalization.PHONE}
    return IdentityRules(
        tuple(
            IdentifierTypeRule(
                type_,
                special.get(type_, Normalization.TRIM),
                default_phone_region=default_phone_region,
            )
            for type_ in sorted(types)
        )
    )


POLICY = plain_rules({"user_id", "email", "phone", "anonymous_id", "device_id"}, "US")


def test_email_is_trimmed_and_lower_cased() -> None:
    got = POLICY.normalise("email", "  Alice.Smith@Example.COM \n", field="identifiers[0]")
    assert got == Identifier("email", "alice.smith@example.com")


@pytest.mark.parametrize(
    "value", ["alice", "@example.com", "alice@", "al ice@example.com", "a@b@c", "alice@exa mple"]
)
def test_malformed_email_is_refused_on_the_value_field(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise("email", value, field="identifiers[2]")
    assert caught.value.field == "identifiers[2].value"
    assert value.strip() not in caught.value.description  # personal data is never echoed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(650) 253-0000", "+16502530000"),
        ("+1 650 253 0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_becomes_e164_with_the_default_region(value: str, expected: str) -> None:
    assert POLICY.normalise("phone", value, field="f").value == expected


def test_default_region_decides_numbers_without_country_code() -> None:
    uk = plain_rules({"phone"}, "GB")
    assert uk.normalise("phone", "020 7946 0958", field="f").value == "+442079460958"
    with pytest.raises(InvalidArgument):
        POLICY.normalise("phone", "020 7946 0958", field="f")  # not a valid US number


@pytest.mark.parametrize("value", ["12", "not a phone", "+1 999 999 9999"])
def test_unparseable_or_invalid_phone_is_refused(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise("phone", value, field="identifier")
    assert caught.value.field == "identifier.value"


def test_other_types_are_only_trimmed() -> None:
    got = POLICY.normalise("user_id", "  U-42 ", field="f")
    assert got == Identifier("user_id", "U-42")


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_empty_value_is_refused(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise("device_id", value, field="identifiers[0]")
    assert caught.value.field == "identifiers[0].value"


def test_value_length_limit() -> None:
    assert POLICY.normalise("device_id", "d" * MAX_VALUE_LENGTH, field="f").value
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise("device_id", "d" * (MAX_VALUE_LENGTH + 1), field="f")
    assert caught.value.field == "f.value"


@pytest.mark.parametrize("type_", ["", "Email", "crm_id"])
def test_unknown_or_missing_type_is_refused_on_the_type_field(type_: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise(type_, "x", field="requests[3].identifiers[1]")
    assert caught.value.field == "requests[3].identifiers[1].type"


def test_normalise_all_deduplicates_after_normalisation_keeping_order() -> None:
    got = POLICY.normalise_all(
        [("email", "A@x.io"), ("user_id", "u1"), ("email", " a@x.io"), ("user_id", "u1")],
        field="identifiers",
    )
    assert got == (Identifier("email", "a@x.io"), Identifier("user_id", "u1"))


def test_normalise_all_names_the_failing_index() -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise_all([("user_id", "u1"), ("email", "nope")], field="identifiers")
    assert caught.value.field == "identifiers[1].value"


def test_normalise_all_requires_one_identifier() -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.normalise_all([], field="requests[0].identifiers")
    assert caught.value.field == "requests[0].identifiers"
