"""Validation of PersonAttributes seen with an observation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from rapport.errors import InvalidArgument

# The PersonAttributes fields, as named in the proto.
ATTRIBUTE_NAMES = (
    "given_name",
    "family_name",
    "birth_date",
    "street_number",
    "address_line1",
    "address_line2",
    "locality",
    "postal_code",
    "region",
)
MAX_ATTRIBUTE_LENGTH = 200
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def validate_attributes(values: Mapping[str, str], *, field: str) -> dict[str, str]:
    """The non-empty attributes (trimmed), or InvalidArgument on ``{field}.{name}``."""
    kept: dict[str, str] = {}
    if not values:
        return kept
    for name in ATTRIBUTE_NAMES:
        value = (values.get(name) or "").strip()
        if not value:
            continue
        if len(value) > MAX_ATTRIBUTE_LENGTH:
            raise InvalidArgument(
                f"{field}.{name}", f"longer than {MAX_ATTRIBUTE_LENGTH} characters"
            )
        if "\x00" in value:
            raise InvalidArgument(f"{field}.{name}", "must not contain NUL characters")
        if name == "birth_date" and not _is_iso_date(value):
            raise InvalidArgument(f"{field}.{name}", "must be a date like 1990-12-31")
        kept[name] = value
    return kept


def _is_iso_date(value: str) -> bool:
    if not _ISO_DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
