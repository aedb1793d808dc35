"""In-process and no-op variants."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

from ._common import Lookup, V, VersionTag, misses, now_or_utc, still_valid

HK = TypeVar("HK", bound=Hashable)


class InProcessVersionedCache(Generic[HK, V]):
    """A bounded LRU for ONE process per database (e.g. SQLite): there, invalidating
    this process's memory is complete.

    Versions live in a fixed array of stripes (scopes share a stripe by hash), so
    memory stays bounded however many scopes are invalidated; scopes sharing a
    stripe only cost each other a miss.
    """

    def __init__(
        self,
        scope_of: Callable[[HK], str],
        *,
        max_entries: int = 100_000,
        stripes: int = 8192,
        valid_until: Callable[[V], datetime | None] | None = None,
    ) -> None:
        if max_entries < 1 or stripes < 1:
            raise ValueError("max_entries and stripes must be positive")
        self._scope_of = scope_of
        self._max_entries = max_entries
        self._versions = [0] * stripes
        self._valid_until = valid_until
        self._values: OrderedDict[HK, tuple[int, V]] = OrderedDict()

    def _stripe(self, scope: str) -> int:
        return hash(scope) % len(self._versions)

    async def get_many(self, keys: Sequence[HK], *, now: datetime | None = None) -> list[Lookup[V]]:
        moment = now_or_utc(now) if self._valid_until is not None else None
        answers: list[Lookup[V]] = []
        for key in keys:
            version = self._versions[self._stripe(self._scope_of(key))]
            cached = self._values.get(key)
            if (
                cached is not None
                and cached[0] == version
                and (moment is None or still_valid(cached[1], self._valid_until, moment))
            ):
                self._values.move_to_end(key)
                answers.append(Lookup(cached[1], version))
            else:
                answers.append(Lookup(None, version))
        return answers

    async def put_many(
        self, items: Sequence[tuple[HK, VersionTag, V]], *, now: datetime | None = None
    ) -> None:
        moment = now_or_utc(now) if self._valid_until is not None else None
        for key, tag, value in items:
            version = self._versions[self._stripe(self._scope_of(key))]
            # The version moved while the database was read: that read may be stale.
            if tag is None or tag != version:
                continue
            if moment is not None and not still_valid(value, self._valid_until, moment):
                continue
            self._values[key] = (version, value)
            self._values.move_to_end(key)
            while len(self._values) > self._max_entries:
                self._values.popitem(last=False)  # least recently used

    async def fence(self, scopes: Iterable[str]) -> str | None:
        # A writer that dies takes this memory with it: nothing to fence.
        return None

    async def invalidate(self, scopes: Iterable[str], *, fence: str | None = None) -> None:
        for scope in scopes:
            self._versions[self._stripe(scope)] += 1

    async def close(self) -> None:
        self._values.clear()


class NoVersionedCache(Generic[HK, V]):
    """Every lookup misses. For several replicas without a shared store: one replica
    could not invalidate another's memory, so any local copy could be served stale."""

    async def get_many(self, keys: Sequence[HK], *, now: datetime | None = None) -> list[Lookup[V]]:
        return misses(len(keys))

    async def put_many(
        self, items: Sequence[tuple[HK, VersionTag, V]], *, now: datetime | None = None
    ) -> None:
        return None

    async def fence(self, scopes: Iterable[str]) -> str | None:
        return None

    async def invalidate(self, scopes: Iterable[str], *, fence: str | None = None) -> None:
        return None

    async def close(self) -> None:
        return None
