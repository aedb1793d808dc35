"""Normalisation and validation of identifiers, per identifier type."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from rapport.errors import InvalidArgument

from .model import Identifier

MAX_VALUE_LENGTH = 512


@dataclass(frozen=True)
class IdentifierPolicy:
    """Which identifier types exist and how their values are normalised.

    Per-type identity rules (priority, limits per customer, blocked values)
    belong here when they come.
    """

    known_types: frozenset[str]
    default_phone_region: str = "US"

    def normalise(self, type_: str, value: str, *, field: str) -> Identifier:
        """The normalised identifier, or InvalidArgument on ``{field}.type`` / ``{field}.value``.

        Error descriptions never quote the value: it is personal data.
        """
        if not type_:
            raise InvalidArgument(f"{field}.type", "is required")
        if type_ not in self.known_types:
            known = ", ".join(sorted(self.known_types))
            raise InvalidArgument(f"{field}.type", f"unknown identifier type; known: {known}")
        value_field = f"{field}.value"
        trimmed = value.strip()
        if not trimmed:
            raise InvalidArgument(value_field, "is required")
        if len(trimmed) > MAX_VALUE_LENGTH:
            raise InvalidArgument(value_field, f"longer than {MAX_VALUE_LENGTH} characters")
        if type_ == "email":
            return Identifier(type_, _normalise_email(trimmed, value_field))
        if type_ == "phone":
            region = self.default_phone_region
            return Identifier(type_, _normalise_phone(trimmed, region, value_field))
        return Identifier(type_, trimmed)

    def normalise_all(
        self, pairs: Iterable[tuple[str, str]], *, field: str
    ) -> tuple[Identifier, ...]:
        """Normalise ``field[i]`` for every pair; duplicates collapse, first occurrence wins."""
        normalised: dict[Identifier, None] = {}
        for index, (type_, value) in enumerate(pairs):
            normalised[self.normalise(type_, value, field=f"{field}[{index}]")] = None
        if not normalised:
            raise InvalidArgument(field, "at least one identifier is required")
        return tuple(normalised)


def _normalise_email(value: str, field: str) -> str:
    lowered = value.lower()
    local, at, domain = lowered.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in lowered):
        raise InvalidArgument(field, "must be an email address like local@domain")
    return lowered


def _normalise_phone(value: str, region: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidArgument(field, "is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument(field, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
