"""JSON columns: orjson, with the json module for what orjson refuses."""

from __future__ import annotations

import math

from rapport.sqlstore._json import dumps, loads


def test_round_trips_what_orjson_writes() -> None:
    value = {"name": "Zoë", "tags": ["a", "b"], "n": 3, "x": 1.5, "none": None}
    assert loads(dumps(value)) == value


def test_what_orjson_refuses_goes_through_the_json_module() -> None:
    huge = {"id": 2**70}  # beyond 64 bits
    assert loads(dumps(huge)) == huge
    keyed = {1: "one"}  # a key that is not a string: json writes it as "1"
    assert loads(dumps(keyed)) == {"1": "one"}


def test_nan_written_by_an_older_release_still_reads() -> None:
    assert math.isnan(loads('{"x": NaN}')["x"])
