"""Protobuf well-known types <-> Python, validated: Timestamp, Duration, Struct, Value.

Client data that does not fit (a timestamp outside 0001-01-01..9999-12-31, nanos out
of range, NaN in a Struct, a Struct nested too deep...) raises
``rapport.errors.InvalidArgument`` naming the field path (``events[3].properties.price``,
``context.items[2]``), never anything else. Python -> protobuf conversions of
server-side values (``to_timestamp``, ``to_duration``) raise ValueError on a value
the type cannot hold: that is a bug, not a client mistake.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import NULL_VALUE, ListValue, Struct, Value
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.errors import InvalidArgument

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "dict_to_struct",
    "duration_to_timedelta",
    "python_to_value",
    "serialized_size",
    "struct_to_dict",
    "timestamp_to_datetime",
    "to_datetime",
    "to_dict",
    "to_duration",
    "to_timedelta",
    "to_timestamp",
    "value_to_python",
]

# Containers (Struct / list) inside one another, the outermost counting 1.
DEFAULT_MAX_DEPTH = 32
# Python recursion stays far from its limit; protobuf itself parses 100 levels at most.
_DEPTH_CEILING = 100

# google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_NANOS_PER_SECOND = 1_000_000_000
# google.protobuf.Duration: about +-10,000 years. Every such duration fits in a
# timedelta (up to 999,999,999 days), so no second check is needed on the way in.
_MAX_DURATION_SECONDS = 315_576_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)
# Above 2**53 a double no longer holds every integer: such numbers stay floats.
_MAX_EXACT_INT = 2**53
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_KEY_IN_PATH = 64


# --- Timestamp ---------------------------------------------------------------------------


def timestamp_to_datetime(stamp: Timestamp, *, field_path: str) -> datetime:
    """A timezone-aware UTC datetime (nanoseconds truncated to microseconds)."""
    if not _MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS:
        raise InvalidArgument(
            field_path, "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        )
    if not 0 <= stamp.nanos < _NANOS_PER_SECOND:
        raise InvalidArgument(field_path, "nanos must be between 0 and 999,999,999")
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def to_datetime(
    message: Message, field_name: str, *, field_path: str | None = None
) -> datetime | None:
    """``message.<field_name>`` (a Timestamp) as a UTC datetime; None when unset.

    ``field_path`` names the field in errors (default: ``field_name``).
    """
    if not message.HasField(field_name):
        return None
    stamp: Timestamp = getattr(message, field_name)
    return timestamp_to_datetime(stamp, field_path=field_path or field_name)


def to_timestamp(value: datetime) -> Timestamp:
    """A Timestamp of ``value``; a naive datetime is taken as UTC (as stored by SQLite)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Direct arithmetic: Timestamp.FromDatetime goes through calendar.timegm, slower,
    # and responses build many of these.
    return Timestamp(seconds=(value - _EPOCH) // _SECOND, nanos=value.microsecond * 1000)


# --- Duration ----------------------------------------------------------------------------


def duration_to_timedelta(duration: Duration, *, field_path: str) -> timedelta:
    """A timedelta (nanoseconds truncated toward zero to microseconds)."""
    seconds, nanos = duration.seconds, duration.nanos
    if not -_MAX_DURATION_SECONDS <= seconds <= _MAX_DURATION_SECONDS:
        raise InvalidArgument(field_path, "must be within +-315,576,000,000 seconds")
    if not -_NANOS_PER_SECOND < nanos < _NANOS_PER_SECOND:
        raise InvalidArgument(field_path, "nanos must be between -999,999,999 and 999,999,999")
    if (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        raise InvalidArgument(field_path, "seconds and nanos must have the same sign")
    micros = abs(nanos) // 1000
    return timedelta(seconds=seconds, microseconds=-micros if nanos < 0 else micros)


def to_timedelta(
    message: Message, field_name: str, *, field_path: str | None = None
) -> timedelta | None:
    """``message.<field_name>`` (a Duration) as a timedelta; None when unset."""
    if not message.HasField(field_name):
        return None
    duration: Duration = getattr(message, field_name)
    return duration_to_timedelta(duration, field_path=field_path or field_name)


def to_duration(value: timedelta) -> Duration:
    """A Duration of ``value``; ValueError beyond protobuf's +-315,576,000,000 s."""
    micros = value // _MICROSECOND  # exact integer arithmetic
    whole, rest = divmod(abs(micros), 1_000_000)
    sign = -1 if micros < 0 else 1
    if whole > _MAX_DURATION_SECONDS:
        raise ValueError(f"{value} is outside the range of google.protobuf.Duration")
    return Duration(seconds=sign * whole, nanos=sign * rest * 1000)


# --- Struct / Value ----------------------------------------------------------------------


def _key_path(path: str, key: str) -> str:
    # Clipped: the path travels in the error's trailers, which have a size limit.
    if len(key) > _MAX_KEY_IN_PATH:
        key = key[:_MAX_KEY_IN_PATH] + "..."
    # AIP-161: a map key that is not a plain identifier is quoted with backticks.
    part = key if _PLAIN_KEY.fullmatch(key) else "`" + key.replace("`", "``") + "`"
    return f"{path}.{part}" if path else part


def _check_depth(max_depth: int) -> None:
    if not 1 <= max_depth <= _DEPTH_CEILING:
        raise ValueError(f"max_depth must be between 1 and {_DEPTH_CEILING}")


def _too_deep(path: str, max_depth: int) -> InvalidArgument:
    return InvalidArgument(path, f"is nested more than {max_depth} levels deep")


def _number(number: float, path: str, ints: bool) -> float | int:
    if not math.isfinite(number):
        raise InvalidArgument(path, "must be a finite number (not NaN or Infinity)")
    if ints and number.is_integer() and abs(number) <= _MAX_EXACT_INT:
        return int(number)
    return number


def _from_value(value: Value, path: str, depth: int, max_depth: int, ints: bool) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _from_struct(value.struct_value, path, depth + 1, max_depth, ints)
    if kind == "list_value":
        return _from_list(value.list_value, path, depth + 1, max_depth, ints)
    if kind == "number_value":
        return _number(value.number_value, path, ints)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    raise InvalidArgument(path, "must hold a value (null, number, string, bool, struct or list)")


def _from_struct(
    struct: Struct, path: str, depth: int, max_depth: int, ints: bool
) -> dict[str, Any]:
    if depth > max_depth:
        raise _too_deep(path, max_depth)
    return {
        key: _from_value(item, _key_path(path, key), depth, max_depth, ints)
        for key, item in struct.fields.items()
    }


def _from_list(items: ListValue, path: str, depth: int, max_depth: int, ints: bool) -> list[Any]:
    if depth > max_depth:
        raise _too_deep(path, max_depth)
    return [
        _from_value(item, f"{path}[{i}]", depth, max_depth, ints)
        for i, item in enumerate(items.values)
    ]


class _Unusual(Exception):
    """The fast conversion met something to refuse: the checked one says what, where."""


def _fast_value(value: Value, depth: int, max_depth: int, ints: bool) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise _Unusual
        if ints and number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "struct_value":
        return _fast_struct(value.struct_value, depth + 1, max_depth, ints)
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    if kind == "list_value":
        if depth + 1 > max_depth:
            raise _Unusual
        return [_fast_value(item, depth + 1, max_depth, ints) for item in value.list_value.values]
    raise _Unusual


def _fast_struct(struct: Struct, depth: int, max_depth: int, ints: bool) -> dict[str, Any]:
    if depth > max_depth:
        raise _Unusual
    return {key: _fast_value(item, depth, max_depth, ints) for key, item in struct.fields.items()}


def struct_to_dict(
    struct: Struct,
    *,
    field_path: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    whole_numbers_as_ints: bool = False,
) -> dict[str, Any]:
    """A Struct as a JSON-like dict.

    Numbers are floats (Struct holds doubles) unless ``whole_numbers_as_ints``: then
    whole ones up to 2**53 become ints (templates print 42, not 42.0).
    """
    _check_depth(max_depth)
    try:
        # Without the path of every value (a third of the cost): only an error needs it.
        return _fast_struct(struct, 1, max_depth, whole_numbers_as_ints)
    except _Unusual:
        return _from_struct(struct, field_path, 1, max_depth, whole_numbers_as_ints)


def value_to_python(
    value: Value,
    *,
    field_path: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    whole_numbers_as_ints: bool = False,
) -> Any:
    """A Value as None, bool, float (or int, see struct_to_dict), str, dict or list."""
    _check_depth(max_depth)
    return _from_value(value, field_path, 0, max_depth, whole_numbers_as_ints)


def to_dict(
    message: Message,
    field_name: str,
    *,
    field_path: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    whole_numbers_as_ints: bool = False,
) -> dict[str, Any] | None:
    """``message.<field_name>`` (a Struct) as a dict; None when unset."""
    if not message.HasField(field_name):
        return None
    struct: Struct = getattr(message, field_name)
    return struct_to_dict(
        struct,
        field_path=field_path or field_name,
        max_depth=max_depth,
        whole_numbers_as_ints=whole_numbers_as_ints,
    )


def _fill_value(target: Value, data: Any, path: str, depth: int, max_depth: int) -> None:
    # bool before int/float: True is an int in Python.
    if data is None:
        target.null_value = NULL_VALUE
    elif isinstance(data, bool):
        target.bool_value = data
    elif isinstance(data, int | float):
        try:
            number = float(data)
        except OverflowError:  # an int beyond the range of a double
            raise InvalidArgument(path, "is beyond the range of a double") from None
        if not math.isfinite(number):
            raise InvalidArgument(path, "must be a finite number (not NaN or Infinity)")
        target.number_value = number
    elif isinstance(data, str):
        target.string_value = data
    elif isinstance(data, Mapping):
        _fill_struct(target.struct_value, data, path, depth + 1, max_depth)
    elif isinstance(data, list | tuple):
        if depth + 1 > max_depth:
            raise _too_deep(path, max_depth)
        values = target.list_value.values
        for i, item in enumerate(data):
            _fill_value(values.add(), item, f"{path}[{i}]", depth + 1, max_depth)
        if not data:
            target.list_value.SetInParent()  # an empty list is still a list
    else:
        raise InvalidArgument(path, f"is not a JSON value ({type(data).__name__})")


def _fill_struct(
    target: Struct, data: Mapping[Any, Any], path: str, depth: int, max_depth: int
) -> None:
    if depth > max_depth:
        raise _too_deep(path, max_depth)
    if not data:
        target.SetInParent()  # an empty object is still an object
    for key, item in data.items():
        if not isinstance(key, str):
            raise InvalidArgument(path, f"keys must be strings, not {type(key).__name__}")
        _fill_value(target.fields[key], item, _key_path(path, key), depth, max_depth)


def dict_to_struct(
    data: Mapping[str, Any], *, field_path: str = "", max_depth: int = DEFAULT_MAX_DEPTH
) -> Struct:
    """A Struct of a JSON-like mapping; NaN, Infinity, non-string keys, other types and
    nesting beyond ``max_depth`` are refused with the path of the offending value."""
    _check_depth(max_depth)
    struct = Struct()
    _fill_struct(struct, data, field_path, 1, max_depth)
    return struct


def python_to_value(
    data: Any, *, field_path: str = "", max_depth: int = DEFAULT_MAX_DEPTH
) -> Value:
    """A Value of a JSON-like Python value (see dict_to_struct)."""
    _check_depth(max_depth)
    value = Value()
    _fill_value(value, data, field_path, 0, max_depth)
    return value


# --- sizes -------------------------------------------------------------------------------


def serialized_size(message: Message, *, max_bytes: int | None = None, field_path: str = "") -> int:
    """The size of ``message`` in the protobuf wire format, in bytes.

    With ``max_bytes``, a larger message is refused: InvalidArgument(field_path).
    """
    size = message.ByteSize()
    if max_bytes is not None and size > max_bytes:
        raise InvalidArgument(field_path, f"is {size} bytes serialised; at most {max_bytes}")
    return size
