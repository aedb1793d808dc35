"""Read-through caches of identifier -> customer id, per workspace.

Correctness rule: once a writing RPC (Resolve that merged, UnmergeCustomer,
EraseCustomer) has returned, no lookup may be answered from a mapping cached
before that write. The mechanism is rapport.versionedcache, with one version
scope per identifier: the writer moves the version of every identifier whose
customer changed after its commit.

Only positive mappings are cached: a newly linked identifier had no entry.

Second line of defence: callers check every hit against the customer's identifiers
read from the database (the answer needs that read anyway), so a failed
invalidation costs speed, never correctness.

Three implementations, chosen in bootstrap (same reasoning as the consent cache):
- InProcessIdentifierCache: SQLite deployments (one process per database by design).
- RedisIdentifierCache: shared by replicas; Redis failures fall back to the database.
- NoIdentifierCache: PostgreSQL without Redis (replicas could not invalidate each
  other's memory, so a merged or erased mapping could be served).

Redis keys never hold identifier values (personal data): only a digest of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, Unpack

from rapport import versionedcache
from rapport.identity.domain.model import Identifier

# Re-exported: the service layer catches the error and types tags with these names.
from rapport.versionedcache import CacheInvalidationError as CacheInvalidationError
from rapport.versionedcache import VersionTag as VersionTag
from redis import asyncio as redis_asyncio

_Key = tuple[str, Identifier]


def _material(key: _Key) -> str:
    workspace, identifier = key
    return f"{workspace}\x1f{identifier.type}\x1f{identifier.value}"


def _digest(key: _Key) -> str:
    return hashlib.sha256(_material(key).encode()).hexdigest()[:32]


def _customer_id(text: str) -> str:
    if not text:
        raise ValueError("no customer id")
    return text


# Stored as "<version>:<customer id>".
_CODEC: versionedcache.ValueCodec[str] = versionedcache.ValueCodec(str, _customer_id)
_decode = _CODEC.decode


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


class _PerWorkspace:
    """The identity-shaped calls (workspace first) over a versioned cache."""

    def __init__(
        self, cache: versionedcache.VersionedCache[_Key, str], scope_of: Callable[[_Key], str]
    ) -> None:
        self._cache = cache
        self._scope_of = scope_of

    async def get_many(
        self, workspace: str, identifiers: Sequence[Identifier]
    ) -> list[tuple[str | None, VersionTag]]:
        return list(await self._cache.get_many([(workspace, i) for i in identifiers]))

    async def put_many(
        self, workspace: str, items: Sequence[tuple[Identifier, VersionTag, str]]
    ) -> None:
        await self._cache.put_many([((workspace, i), tag, c) for i, tag, c in items])

    async def invalidate(self, workspace: str, identifiers: Iterable[Identifier]) -> None:
        await self._cache.invalidate(self._scope_of((workspace, i)) for i in identifiers)

    async def close(self) -> None:
        await self._cache.close()


class NoIdentifierCache(_PerWorkspace):
    def __init__(self) -> None:
        super().__init__(versionedcache.NoVersionedCache(), _material)


class InProcessIdentifierCache(_PerWorkspace):
    """A bounded LRU (see rapport.versionedcache.InProcessVersionedCache)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        # The plain key as scope: it never leaves the process.
        super().__init__(
            versionedcache.InProcessVersionedCache(
                _material, max_entries=max_entries, stripes=8192
            ),
            _material,
        )


class RedisIdentifierCache(_PerWorkspace):
    """Mappings and versions in Redis, shared by every replica: ``<prefix>{<digest>}:v``
    (the identifier's version) and ``<prefix>{<digest>}:c`` (its customer)."""

    def __init__(
        self,
        client: redis_asyncio.Redis,
        *,
        key_prefix: str,
        **options: Unpack[versionedcache.RedisOptions],
    ) -> None:
        cache: versionedcache.RedisVersionedCache[_Key, str] = versionedcache.RedisVersionedCache(
            client,
            key_prefix=key_prefix,
            scope_of=_digest,
            field_of=lambda _key: "c",
            codec=_CODEC,
            name="identity",
            **options,
        )
        super().__init__(cache, _digest)

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float, **kwargs: Any) -> RedisIdentifierCache:
        return cls(versionedcache.redis_client(url, timeout_seconds=timeout_seconds), **kwargs)


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
