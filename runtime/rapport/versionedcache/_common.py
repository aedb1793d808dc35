"""What every variant shares: lookups, tags, the value codec, the invalidation error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

from rapport.errors import Unavailable

K = TypeVar("K")
V = TypeVar("V")
K_contra = TypeVar("K_contra", contravariant=True)

# Handed back with every lookup and passed back to put_many: the version the value
# must be stored under. None means "do not store" (the version is unknown).
VersionTag = object | None


class Lookup(NamedTuple, Generic[V]):
    """One key's answer: the cached value (None on a miss) and the tag to store with."""

    value: V | None
    tag: VersionTag


class CacheInvalidationError(Unavailable):
    """A writer could not move the versions: other replicas may still trust old values.

    Raised by ``invalidate`` after the write committed: the caller decides whether
    acknowledging is safe (a caller that re-checks every hit) or the client must
    retry. Raised by ``fence`` before the commit: the write should not be made.
    """

    def __init__(self, cause: BaseException | None) -> None:
        self.cause_name = type(cause).__name__ if cause is not None else "unknown"
        super().__init__(
            "CACHE_INVALIDATION_FAILED",
            f"the cache could not be invalidated ({self.cause_name})",
        )


class VersionedCache(Protocol[K_contra, V]):
    """A read-through cache whose entries are trusted only under their scope's version.

    Protocol: ``get_many`` BEFORE reading the database, ``put_many`` with the tags it
    returned AFTER; writers call ``invalidate`` with the scopes they changed after
    their commit and before acknowledging. A writer whose commit must not be
    followed by stale answers even if it dies before invalidating calls ``fence``
    before its commit and hands the fence to ``invalidate``.
    """

    async def get_many(
        self, keys: Sequence[K_contra], *, now: datetime | None = None
    ) -> list[Lookup[V]]: ...

    async def put_many(
        self, items: Sequence[tuple[K_contra, VersionTag, V]], *, now: datetime | None = None
    ) -> None: ...

    async def fence(self, scopes: Iterable[str]) -> str | None: ...

    async def invalidate(self, scopes: Iterable[str], *, fence: str | None = None) -> None: ...

    async def close(self) -> None: ...


class ValueCodec(Generic[V]):
    """Values as text for a shared store, sealed with the version they were read under.

    ``dumps`` turns a value into text; ``loads`` turns it back and raises ValueError,
    KeyError or TypeError on anything it cannot read (treated as a miss: the
    database is read instead, so a format change between releases is harmless).
    """

    def __init__(self, dumps: Callable[[V], str], loads: Callable[[str], V]) -> None:
        self._dumps = dumps
        self._loads = loads

    def encode(self, value: V, version: str) -> str:
        return f"{version}:{self._dumps(value)}"

    def decode(self, raw: str | None, version: str) -> V | None:
        """The value if ``raw`` was stored under ``version``; None otherwise."""
        if raw is None:
            return None
        tag, sep, payload = raw.partition(":")
        if not sep or tag != version:
            return None
        try:
            return self._loads(payload)
        except (ValueError, KeyError, TypeError):
            return None


def still_valid(
    value: V, valid_until: Callable[[V], datetime | None] | None, now: datetime
) -> bool:
    # A value that expires by itself (e.g. an entry recorded ahead of time takes
    # over) stops being served at that moment, without any write.
    if valid_until is None:
        return True
    until = valid_until(value)
    return until is None or now < until


def now_or_utc(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def misses(count: int) -> list[Lookup[V]]:
    return [Lookup(None, None)] * count
