"""Reading YAML documents safely and their values strictly, with the path of every mistake.

Anchors and aliases are refused: an alias-laden document of a few hundred bytes
expands to billions of nodes when walked ("billion laughs").
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import yaml
from rapport.errors import InvalidArgument

_DURATION = re.compile(r"(?:(\d{1,6})d)?(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,10})s)?")
_MAX_DURATION_SECONDS = 10**10


class DocumentError(ValueError):
    """The text is not a YAML document this service reads; the message says why."""


# Deeper than any document this service reads; checked while parsing, before building.
MAX_DEPTH = 64
# libyaml's parser when PyYAML has it: the pure-Python scanner takes seconds (holding the
# event loop) on a few kilobytes of nested brackets.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """The parsed document; DocumentError for invalid YAML, aliases or absurd nesting."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise DocumentError("anchors and aliases are not allowed")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise DocumentError(f"nested too deeply (more than {MAX_DEPTH} levels)")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.load(text, Loader=_LOADER)  # a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as err:
        raise DocumentError(f"not valid YAML: {err}") from err
    except RecursionError:
        raise DocumentError("nested too deeply") from None


def dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_keys(mapping: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise InvalidArgument(at(path, str(key)), f"unknown key (expected one of {expected})")


def mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(path, "must be a mapping")
    return value


def optional_mapping(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key)
    return {} if value is None else mapping(value, at(path, key))


def string(parent: dict[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(at(path, key), "must be a string")
    return value


def number(parent: dict[str, Any], key: str, path: str) -> float:
    value = parent.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(at(path, key), "must be a number")
    return float(value)


def integer(parent: dict[str, Any], key: str, path: str) -> int:
    value = parent.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(at(path, key), "must be a whole number")
    return value


def items(parent: dict[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(at(path, key), "must be a list")
    return value


def strings(parent: dict[str, Any], key: str, path: str) -> list[str]:
    values = items(parent, key, path)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidArgument(f"{at(path, key)}[{index}]", "must be a string")
    return values


def time(parent: dict[str, Any], key: str, path: str) -> datetime | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as err:
            raise InvalidArgument(at(path, key), "must be an ISO 8601 time") from err
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise InvalidArgument(at(path, key), "must be an ISO 8601 time")
    # A time without an offset is taken as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def duration(parent: dict[str, Any], key: str, path: str) -> timedelta | None:
    """`7d`, `12h`, `30m`, `45s` or combinations (`1d12h`), or whole seconds."""
    value = parent.get(key)
    if value is None:
        return None
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value and (found := _DURATION.fullmatch(value.strip())):
        d, h, m, s = (int(part or 0) for part in found.groups())
        seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds is None or not 0 <= seconds <= _MAX_DURATION_SECONDS:
        raise InvalidArgument(at(path, key), "must be a duration such as 7d, 12h, 30m or 45s")
    return timedelta(seconds=seconds)


def duration_text(value: timedelta) -> str:
    """The shortest of `7d`, `1d12h`, `90s`... for a whole number of seconds."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
