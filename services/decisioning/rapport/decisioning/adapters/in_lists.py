"""IN lists of bounded length: a batch's keys in queries of at most CHUNK values each
(SQLite's bound parameters are limited; long lists make plans no better)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
CHUNK = 500


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
