"""The JSON Schema validator of tracking plans: Draft 2020-12, with every regular
expression (``pattern``, ``patternProperties``, and the additional properties they
leave) run by RE2.

jsonschema runs patterns with Python's ``re``, which backtracks: a plan's
``"pattern": "(a+)+$"`` against a 30 KB property would hold ingestion's event loop for
hours, and Python gives no way to stop a running match. RE2 matches in time linear in
the text, whatever the pattern (google-re2, Google's own binding). Patterns RE2 cannot
run (back-references, look-around) are refused when the plan is saved. The one
keyword left to Python's ``re`` is ``unevaluatedProperties`` next to
``patternProperties`` (jsonschema matches them inside its own helpers), so plans may
not combine the two.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

__all__ = ["PlanSchemaValidator", "RegexRefused", "check_patterns"]


class RegexRefused(ValueError):
    """A pattern RE2 cannot run, or a combination plans may not use, and where."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # refusals become RegexRefused, not log lines
    return options


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _options())


def _search(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = sorted(
        (
            key
            for key in instance
            if key not in properties and not any(_search(p, key) for p in patterns)
        ),
        key=str,
    )
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        joined = ", ".join(repr(each) for each in extras)
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            listed = ", ".join(repr(each) for each in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {listed}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


PlanSchemaValidator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)


def check_patterns(schema: Any, path: str) -> None:
    """RegexRefused for the first pattern RE2 cannot run, or for
    ``unevaluatedProperties`` beside ``patternProperties``; ``path`` names the schema."""
    for where, node in _schemas(schema, path):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            _check(pattern, f"{where}.pattern")
        patterns = node.get("patternProperties")
        if isinstance(patterns, Mapping):
            for key in patterns:
                _check(key, f'{where}.patternProperties["{key}"]')
            if "unevaluatedProperties" in node:
                raise RegexRefused(
                    f"{where}.unevaluatedProperties",
                    "unevaluatedProperties cannot be combined with patternProperties",
                )


def _check(pattern: str, where: str) -> None:
    try:
        _compiled(pattern)
    except re2.error as err:
        detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
        raise RegexRefused(
            where, f"not a pattern RE2 can run (no back-references or look-around): {detail}"
        ) from None


def _schemas(node: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema object inside ``node`` (depth first), with its path."""
    if isinstance(node, Mapping):
        yield where, node
        for key, value in node.items():
            if key in ("const", "enum", "default", "examples"):
                continue  # values, not schemas
            yield from _schemas(
                value, f'{where}["{key}"]' if not key.isidentifier() else f"{where}.{key}"
            )
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _schemas(item, f"{where}[{index}]")
