"""Read-through caches of the CURRENT consent state per (workspace, customer, purpose, channel).

Correctness rule: once RecordConsent has returned, no check may be answered from a
state cached before that write. The mechanism is rapport.versionedcache, with one
version scope per customer: RecordConsent moves the customer's version after its
commit, so every purpose and channel of that customer is read again.

Three implementations, chosen in bootstrap:
- InProcessStateCache: SQLite deployments (one process per database by design).
- RedisStateCache: shared by replicas (PostgreSQL); Redis failures fall back to the
  database, never to an unverified answer.
- NoStateCache: PostgreSQL without Redis. Replicas cannot see each other's writes, so
  an in-process cache could serve a withdrawn consent; every check reads the database.

A state whose valid_until has passed (an entry recorded ahead of time has taken
over) is never served, and expires from Redis at that moment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, Unpack

from rapport import versionedcache
from rapport.consent.domain.model import (
    ConsentEntry,
    ConsentKey,
    CurrentState,
    known_channel,
    known_state,
)

# Re-exported: the service layer catches the error and types tags with these names.
from rapport.versionedcache import CacheInvalidationError as CacheInvalidationError
from rapport.versionedcache import VersionTag as VersionTag
from redis import asyncio as redis_asyncio


class StateCache(Protocol):
    async def get_many(
        self, keys: Sequence[ConsentKey], now: datetime
    ) -> list[tuple[CurrentState | None, VersionTag]]:
        """Per key: the cached state (None on a miss) and the tag to store a fresh one with."""
        ...

    async def put_many(
        self, items: Sequence[tuple[ConsentKey, VersionTag, CurrentState]], now: datetime
    ) -> None: ...

    async def fence(self, workspace: str, customer_ids: Sequence[str]) -> str | None:
        """Called before a write commits: until the write's invalidation (or a few
        seconds if its process dies first), the customers' checks read the database."""
        ...

    async def invalidate(self, workspace: str, customer_id: str, fence: str | None = None) -> None:
        """Called after a write committed and before it is acknowledged."""
        ...

    async def close(self) -> None: ...


def _customer_scope(workspace: str, customer_id: str) -> str:
    return f"{workspace}/{customer_id}"


def _scope(key: ConsentKey) -> str:
    return _customer_scope(key.workspace, key.customer_id)


def _field(key: ConsentKey) -> str:
    return f"{key.purpose}:{key.channel}"


def _valid_until(state: CurrentState) -> datetime | None:
    return state.valid_until


class _ByCustomer:
    """The consent-shaped calls (a clock reading, one customer per invalidation)."""

    def __init__(self, cache: versionedcache.VersionedCache[ConsentKey, CurrentState]) -> None:
        self._cache = cache

    async def get_many(
        self, keys: Sequence[ConsentKey], now: datetime
    ) -> list[tuple[CurrentState | None, VersionTag]]:
        return list(await self._cache.get_many(keys, now=now))

    async def put_many(
        self, items: Sequence[tuple[ConsentKey, VersionTag, CurrentState]], now: datetime
    ) -> None:
        await self._cache.put_many(items, now=now)

    async def fence(self, workspace: str, customer_ids: Sequence[str]) -> str | None:
        return await self._cache.fence(_customer_scope(workspace, c) for c in customer_ids)

    async def invalidate(self, workspace: str, customer_id: str, fence: str | None = None) -> None:
        await self._cache.invalidate([_customer_scope(workspace, customer_id)], fence=fence)

    async def close(self) -> None:
        await self._cache.close()


class NoStateCache(_ByCustomer):
    def __init__(self) -> None:
        super().__init__(versionedcache.NoVersionedCache())


class InProcessStateCache(_ByCustomer):
    """A bounded LRU (see rapport.versionedcache.InProcessVersionedCache)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        super().__init__(
            versionedcache.InProcessVersionedCache(
                _scope, max_entries=max_entries, stripes=4096, valid_until=_valid_until
            )
        )


class RedisStateCache(_ByCustomer):
    """States and versions in Redis, shared by every replica:
    ``<prefix>{<workspace>/<customer>}:v`` (the customer's version) and
    ``<prefix>{<workspace>/<customer>}:<purpose>:<channel>`` (a state)."""

    def __init__(
        self,
        client: redis_asyncio.Redis,
        *,
        key_prefix: str,
        **options: Unpack[versionedcache.RedisOptions],
    ) -> None:
        super().__init__(
            versionedcache.RedisVersionedCache(
                client,
                key_prefix=key_prefix,
                scope_of=_scope,
                field_of=_field,
                codec=_CODEC,
                valid_until=_valid_until,
                name="consent",
                **options,
            )
        )

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float, **kwargs: Any) -> RedisStateCache:
        return cls(versionedcache.redis_client(url, timeout_seconds=timeout_seconds), **kwargs)


# --- (de)serialisation of cached states -------------------------------------------------


def _entry_to_json(entry: ConsentEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "workspace": entry.workspace,
        "customer_id": entry.customer_id,
        "purpose": entry.purpose,
        # null: a value this version cannot read (see domain.model.ConsentEntry).
        "channel": entry.channel.value if entry.channel is not None else None,
        "state": entry.state.value if entry.state is not None else None,
        "source": entry.source,
        "notice_version": entry.notice_version,
        "proof": entry.proof,
        "effective_time": entry.effective_time.isoformat(),
        "record_time": entry.record_time.isoformat(),
        "seq": entry.seq,
    }


def _entry_from_json(data: dict[str, Any]) -> ConsentEntry:
    return ConsentEntry(
        id=data["id"],
        workspace=data["workspace"],
        customer_id=data["customer_id"],
        purpose=data["purpose"],
        channel=known_channel(data["channel"]) if data["channel"] is not None else None,
        state=known_state(data["state"]) if data["state"] is not None else None,
        source=data["source"],
        notice_version=data["notice_version"],
        proof=data["proof"],
        effective_time=datetime.fromisoformat(data["effective_time"]),
        record_time=datetime.fromisoformat(data["record_time"]),
        seq=int(data["seq"]),
    )


def _state_to_json(state: CurrentState) -> str:
    return json.dumps(
        {
            "e": _entry_to_json(state.entry) if state.entry is not None else None,
            "u": state.valid_until.isoformat() if state.valid_until is not None else None,
        },
        separators=(",", ":"),
    )


def _state_from_json(text: str) -> CurrentState:
    data = json.loads(text)
    entry = _entry_from_json(data["e"]) if data["e"] is not None else None
    valid_until = datetime.fromisoformat(data["u"]) if data["u"] is not None else None
    return CurrentState(entry, valid_until)


# Stored as "<version>:<json>"; anything unreadable is a miss (the database is read).
_CODEC: versionedcache.ValueCodec[CurrentState] = versionedcache.ValueCodec(
    _state_to_json, _state_from_json
)
_encode: Callable[[CurrentState, str], str] = _CODEC.encode
_decode: Callable[[str | None, str], CurrentState | None] = _CODEC.decode
