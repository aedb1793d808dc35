"""IN lists of bounded length: a batch's keys in queries of a few hundred values each
(SQLite's bound parameters are limited, even for pairs; longer lists plan no better)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

IN_LIST_CHUNK = 400


def in_chunks(items: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
