"""Template values from JSON-like sources (protobuf Struct and Value)."""

from __future__ import annotations

from typing import Any

_MAX_EXACT_INT = 2**53


def whole_numbers_as_ints(value: Any) -> Any:
    """Struct numbers are doubles; whole ones become ints so templates print 42, not 42.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_EXACT_INT:
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers_as_ints(item) for item in value]
    return value
