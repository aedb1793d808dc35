"""Read-through caches of identifier -> customer id, per workspace.

Correctness rule: once a writing RPC (Resolve that merged, UnmergeCustomer,
EraseCustomer) has returned, no lookup may be answered from a mapping cached
before that write. Every cached mapping is tagged with a per-identifier version
read BEFORE the database read; the writer moves the version of every identifier
whose customer changed AFTER its commit; a mapping is trusted only when its tag
equals the current version. A reader that raced with a write therefore stores a
mapping nobody will trust, instead of a stale one.

Only positive mappings are cached: a newly linked identifier had no entry.

Second line of defence: callers check every hit against the customer's identifiers
read from the database (the answer needs that read anyway), so a failed
invalidation costs speed, never correctness.

Three implementations, chosen in bootstrap (same reasoning as the consent cache):
- InProcessIdentifierCache: SQLite deployments (one process per database by design).
- RedisIdentifierCache: shared by replicas; Redis failures fall back to the database.
- NoIdentifierCache: PostgreSQL without Redis (replicas could not invalidate each
  other's memory, so a merged or erased mapping could be served).

Keys never hold identifier values (personal data): only a digest of them.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from rapport.identity.domain.model import Identifier
from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

_log = logging.getLogger(__name__)

# Handed back with a miss, to be passed to put_many: the version the mapping must be
# tagged with. None means "do not store" (the version is unknown).
VersionTag = object | None


class CacheInvalidationError(Exception):
    """The writer could not move the versions: other replicas may still hold old mappings."""


class IdentifierCache(Protocol):
    async def get_many(
        self, workspace: str, identifiers: Sequence[Identifier]
    ) -> list[tuple[str | None, VersionTag]]:
        """Per identifier: the cached customer id (None on a miss) and the tag to store with."""
        ...

    async def put_many(
        self, workspace: str, items: Sequence[tuple[Identifier, VersionTag, str]]
    ) -> None: ...

    async def invalidate(self, workspace: str, identifiers: Iterable[Identifier]) -> None:
        """Called after a write committed and before it is acknowledged."""
        ...

    async def close(self) -> None: ...


class NoIdentifierCache:
    async def get_many(
        self, workspace: str, identifiers: Sequence[Identifier]
    ) -> list[tuple[str | None, VersionTag]]:
        return [(None, None)] * len(identifiers)

    async def put_many(
        self, workspace: str, items: Sequence[tuple[Identifier, VersionTag, str]]
    ) -> None:
        return None

    async def invalidate(self, workspace: str, identifiers: Iterable[Identifier]) -> None:
        return None

    async def close(self) -> None:
        return None


class InProcessIdentifierCache:
    """A bounded LRU; versions live in a fixed array of stripes (identifiers share a
    stripe by hash), so memory stays bounded and a shared stripe only costs a miss."""

    _STRIPES = 8192

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max_entries = max_entries
        self._versions = [0] * self._STRIPES
        self._values: OrderedDict[tuple[str, Identifier], tuple[int, str]] = OrderedDict()

    def _stripe(self, workspace: str, identifier: Identifier) -> int:
        return hash((workspace, identifier)) % self._STRIPES

    async def get_many(
        self, workspace: str, identifiers: Sequence[Identifier]
    ) -> list[tuple[str | None, VersionTag]]:
        answers: list[tuple[str | None, VersionTag]] = []
        for identifier in identifiers:
            version = self._versions[self._stripe(workspace, identifier)]
            key = (workspace, identifier)
            cached = self._values.get(key)
            if cached is not None and cached[0] == version:
                self._values.move_to_end(key)
                answers.append((cached[1], version))
            else:
                answers.append((None, version))
        return answers

    async def put_many(
        self, workspace: str, items: Sequence[tuple[Identifier, VersionTag, str]]
    ) -> None:
        for identifier, tag, customer_id in items:
            version = self._versions[self._stripe(workspace, identifier)]
            # The version moved while the database was read: that read may be stale.
            if tag is None or tag != version:
                continue
            key = (workspace, identifier)
            self._values[key] = (version, customer_id)
            self._values.move_to_end(key)
            while len(self._values) > self._max_entries:
                self._values.popitem(last=False)  # least recently used

    async def invalidate(self, workspace: str, identifiers: Iterable[Identifier]) -> None:
        for identifier in identifiers:
            self._versions[self._stripe(workspace, identifier)] += 1

    async def close(self) -> None:
        self._values.clear()


class RedisIdentifierCache:
    """Mappings and versions in Redis, shared by every replica.

    Versions are random tokens, not counters, so a version key that expired or was
    evicted can never come back equal to the tag of an old mapping. Both keys of an
    identifier share a hash tag, so one MGET reads them together (also on a cluster).
    """

    def __init__(
        self,
        client: redis_asyncio.Redis,
        *,
        key_prefix: str,
        ttl_seconds: float,
        version_ttl_seconds: float = 86_400,
        reader_backoff_seconds: float = 1.0,
        invalidation_attempts: int = 3,
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._version_ttl_ms = max(self._ttl_ms, int(version_ttl_seconds * 1000))
        self._reader_backoff = reader_backoff_seconds
        self._invalidation_attempts = invalidation_attempts
        self._readers_paused_until = 0.0

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float, **kwargs: Any) -> RedisIdentifierCache:
        client = redis_asyncio.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )
        return cls(client, **kwargs)

    def _slot(self, workspace: str, identifier: Identifier) -> str:
        material = f"{workspace}\x1f{identifier.type}\x1f{identifier.value}".encode()
        return f"{self._prefix}{{{hashlib.sha256(material).hexdigest()[:32]}}}"

    def _readers_paused(self) -> bool:
        return time.monotonic() < self._readers_paused_until

    def _pause_readers(self, exc: BaseException) -> None:
        # Reads go straight to the database for a moment instead of each waiting
        # for a Redis timeout.
        self._readers_paused_until = time.monotonic() + self._reader_backoff
        _log.warning(
            "identity cache unavailable, reading the database",
            extra={"error_reason": type(exc).__name__},
        )

    async def get_many(
        self, workspace: str, identifiers: Sequence[Identifier]
    ) -> list[tuple[str | None, VersionTag]]:
        misses: list[tuple[str | None, VersionTag]] = [(None, None)] * len(identifiers)
        if not identifiers or self._readers_paused():
            return misses
        slots = [self._slot(workspace, identifier) for identifier in identifiers]
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.mget(f"{slot}:v", f"{slot}:c")
                replies = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self._pause_readers(exc)
            return misses

        answers: list[tuple[str | None, VersionTag]] = []
        unversioned: list[str] = []
        for slot, (version, raw) in zip(slots, replies, strict=True):
            if version is None:
                unversioned.append(slot)
                answers.append((None, None))
                continue
            answers.append((_decode(raw, version), version))
        if unversioned:
            await self._create_versions(unversioned)
        return answers

    async def _create_versions(self, slots: Sequence[str]) -> None:
        # A fresh random version (NX: never replaces a writer's); mappings are stored
        # from the next miss on.
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.set(f"{slot}:v", uuid.uuid4().hex, nx=True, px=self._version_ttl_ms)
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self._pause_readers(exc)

    async def put_many(
        self, workspace: str, items: Sequence[tuple[Identifier, VersionTag, str]]
    ) -> None:
        storable = [
            (self._slot(workspace, identifier), f"{tag}:{customer_id}")
            for identifier, tag, customer_id in items
            if isinstance(tag, str)
        ]
        if not storable or self._readers_paused():
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for slot, value in storable:
                    pipe.set(f"{slot}:c", value, px=self._ttl_ms)
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self._pause_readers(exc)

    async def invalidate(self, workspace: str, identifiers: Iterable[Identifier]) -> None:
        slots = sorted({self._slot(workspace, identifier) for identifier in identifiers})
        if not slots:
            return
        last_error: BaseException | None = None
        for _attempt in range(self._invalidation_attempts):
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for slot in slots:
                        pipe.set(f"{slot}:v", uuid.uuid4().hex, px=self._version_ttl_ms)
                    await pipe.execute()
                return
            except (TimeoutError, RedisError, OSError) as exc:
                last_error = exc
        raise CacheInvalidationError(type(last_error).__name__) from last_error

    async def close(self) -> None:
        await self._client.aclose()


def _decode(raw: str | None, version: str) -> str | None:
    """The cached customer id if the mapping carries the current version."""
    if raw is None:
        return None
    tag, sep, customer_id = raw.partition(":")
    if not sep or tag != version or not customer_id:
        return None
    return customer_id


def identifier_cache(
    *,
    redis_url: str | None,
    sqlite: bool,
    key_prefix: str,
    ttl_seconds: float,
    max_entries: int,
    timeout_seconds: float,
) -> IdentifierCache:
    """The cache for this deployment (see the module docstring for why)."""
    if redis_url:
        return RedisIdentifierCache.from_url(
            redis_url,
            timeout_seconds=timeout_seconds,
            key_prefix=key_prefix,
            ttl_seconds=ttl_seconds,
        )
    if sqlite:
        # One process per SQLite database by design: invalidation in-process is complete.
        return InProcessIdentifierCache(max_entries=max_entries)
    return NoIdentifierCache()
