"""Features of a decision for the models: named from the profile and the context, then
hashed into a model's vector (see learning for how they are used).

A model declares where its features come from (`traits.plan`, `computed_traits`,
`context.placement`, `segments`, `life_stage`...). A text, boolean or list item
becomes `source=value` with value 1; a finite number becomes `source` with the
number (squashed to sign(x)·ln(1+|x|) when hashed). The names are hashed (`dimensions`
slots with a sign bit), plus a bias slot.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from rapport.errors import InvalidArgument

from .checks import validate_resource_id

MAX_LIST_ITEMS = 50
MAX_VALUE_CHARS = 64
BIAS_FEATURE = "bias"
ROOTS = ("traits", "computed_traits", "context")
_WHOLE = ("segments", "life_stage", *ROOTS)
_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}(\.[A-Za-z0-9_\-]{1,128}){0,3}$")


def validate_feature_source(source: str, field_name: str) -> str:
    if source in _WHOLE:
        return source
    root, _, key = source.partition(".")
    if root not in ROOTS or not _KEY.match(key):
        raise InvalidArgument(
            field_name,
            "must be `segments`, `life_stage`, `traits`, `computed_traits`, `context` or one "
            "of the last three followed by `.key` (letters, digits, `_`, `-`, up to 4 levels)",
        )
    return source


_ACTION_COLUMNS = ("action.value", "action.lever", "action.base_propensity")
_INDICATOR = re.compile(r"^[^\x00-\x1f]{1,64}$")


def validate_onnx_column(column: str, field_name: str) -> str:
    """An ONNX input column: a profile or context value (`traits.age`), an indicator
    (`traits.plan=gold`), an action's number (`action.value`) or `action=<action id>`."""
    if column in _ACTION_COLUMNS:
        return column
    source, equals, expected = column.partition("=")
    if source == "action" and equals:
        validate_resource_id(expected, field_name)
        return column
    root, _, key = source.partition(".")
    if root in ROOTS and _KEY.match(key) and (not equals or _INDICATOR.match(expected)):
        return column
    raise InvalidArgument(
        field_name,
        "must be `traits.`, `computed_traits.` or `context.` and a key, optionally followed by "
        "`=value` (an indicator), or `action.value`, `action.lever`, `action.base_propensity` "
        "or `action=<action id>`",
    )


def _squash(number: float) -> float:
    return math.copysign(math.log1p(abs(number)), number)


def _add(out: dict[str, float], source: str, value: Any) -> None:
    if isinstance(value, bool):
        out[f"{source}={'true' if value else 'false'}"] = 1.0
    elif isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number):
            out[source] = number
    elif isinstance(value, str):
        out[f"{source}={value[:MAX_VALUE_CHARS]}"] = 1.0
    elif isinstance(value, list | tuple):
        for item in value[:MAX_LIST_ITEMS]:
            if isinstance(item, str | bool):
                _add(out, source, item)


def lookup(root: Mapping[str, Any], path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def named_features(
    sources: Sequence[str], profile: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, float]:
    """The named features of one decision for these sources (rules' `profile` and
    `context` variables); values that are missing or not usable are left out."""
    out: dict[str, float] = {BIAS_FEATURE: 1.0}
    for source in sources:
        root, _, key = source.partition(".")
        base: Mapping[str, Any] = context if root == "context" else profile
        if not key:
            value = base.get(root) if root != "context" else context
            if isinstance(value, Mapping):
                for sub, item in list(value.items())[:MAX_LIST_ITEMS]:
                    if isinstance(sub, str) and sub not in ("now", "local_time"):
                        _add(out, f"{root}.{sub}", item)
            else:
                _add(out, root, value)
            continue
        scope = context if root == "context" else (base.get(root) or {})
        _add(out, source, lookup(scope, key))
    return out


@lru_cache(maxsize=65536)
def _slot(name: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    return number % dimensions, (1.0 if (number >> 63) & 1 == 0 else -1.0)


def hashed(features: Mapping[str, float], dimensions: int) -> np.ndarray:
    """Feature hashing: the vector x of `dimensions` slots."""
    x = np.zeros(dimensions)
    for name, value in features.items():
        index, sign = _slot(name, dimensions)
        # Numbers are recorded as they are and squashed here; indicators are 1.
        numeric = "=" not in name and name != BIAS_FEATURE
        x[index] += sign * (_squash(value) if numeric else value)
    return x
