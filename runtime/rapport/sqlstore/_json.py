"""The JSON of every JSON column: orjson (a tenth of the json module's time on event
documents and decision explanations), falling back to the json module for what orjson
refuses (integers beyond 64 bits, keys that are not strings, NaN written by an older
release), so that what was stored and read before reads and writes the same."""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
