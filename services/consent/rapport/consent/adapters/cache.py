"""Read-through caches of the CURRENT consent state per (workspace, customer, purpose, channel).

Correctness rule: once RecordConsent has returned, no check may be answered from a
state cached before that write. Every cache tags what it stores with a per-customer
version read BEFORE the database read; the writer moves the version AFTER its commit;
a value is trusted only when its tag equals the current version. A reader that raced
with a write therefore stores a value nobody will trust, instead of a stale one.

Three implementations, chosen in bootstrap:
- InProcessStateCache: SQLite deployments (one process per database by design).
- RedisStateCache: shared by replicas (PostgreSQL); Redis failures fall back to the
  database, never to an unverified answer.
- NoStateCache: PostgreSQL without Redis. Replicas cannot see each other's writes, so
  an in-process cache could serve a withdrawn consent; every check reads the database.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from rapport.consent.domain.model import (
    Channel,
    ConsentEntry,
    ConsentKey,
    ConsentState,
    CurrentState,
)
from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

_log = logging.getLogger(__name__)

# What a lookup hands back for a miss, to be passed to put_many: the version the value
# must be tagged with. None means "do not store" (the version is unknown).
VersionTag = object | None


class CacheInvalidationError(Exception):
    """The writer could not move the version: other replicas may still hold old values."""


class StateCache(Protocol):
    async def get_many(
        self, keys: Sequence[ConsentKey], now: datetime
    ) -> list[tuple[CurrentState | None, VersionTag]]:
        """Per key: the cached state (None on a miss) and the tag to store a fresh one with."""
        ...

    async def put_many(
        self, items: Sequence[tuple[ConsentKey, VersionTag, CurrentState]], now: datetime
    ) -> None: ...

    async def invalidate(self, workspace: str, customer_id: str) -> None:
        """Called after a write committed and before it is acknowledged."""
        ...

    async def close(self) -> None: ...


def _usable(state: CurrentState, now: datetime) -> bool:
    # An entry recorded ahead of time takes over at its effective time, without a write.
    return state.valid_until is None or now < state.valid_until


class NoStateCache:
    async def get_many(
        self, keys: Sequence[ConsentKey], now: datetime
    ) -> list[tuple[CurrentState | None, VersionTag]]:
        return [(None, None)] * len(keys)

    async def put_many(
        self, items: Sequence[tuple[ConsentKey, VersionTag, CurrentState]], now: datetime
    ) -> None:
        return None

    async def invalidate(self, workspace: str, customer_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class InProcessStateCache:
    """A bounded dict; versions live in a fixed array of stripes (customers share a
    stripe by hash), so memory stays bounded and a shared stripe only costs a miss."""

    _STRIPES = 4096

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max_entries = max_entries
        self._versions = [0] * self._STRIPES
        self._values: dict[ConsentKey, tuple[int, CurrentState]] = {}

    def _stripe(self, workspace: str, customer_id: str) -> int:
        return hash((workspace, customer_id)) % self._STRIPES

    async def get_many(
        self, keys: Sequence[ConsentKey], now: datetime
    ) -> list[tuple[CurrentState | None, VersionTag]]:
        answers: list[tuple[CurrentState | None, VersionTag]] = []
        for key in keys:
            version = self._versions[self._stripe(key.workspace, key.customer_id)]
            cached = self._values.get(key)
            if cached is not None and cached[0] == version and _usable(cached[1], now):
                answers.append((cached[1], version))
            else:
                answers.append((None, version))
        return answers

    async def put_many(
        self, items: Sequence[tuple[ConsentKey, VersionTag, CurrentState]], now: datetime
    ) -> None:
        for key, tag, state in items:
            stripe = self._stripe(key.workspace, key.customer_id)
            # The version moved while the database was read: that read may be stale.
            if tag is None or tag != self._versions[stripe]:
                continue
            if key not in self._values and len(self._values) >= self._max_entries:
                self._values.pop(next(iter(self._values)))  # oldest insertion first
            self._values[key] = (self._versions[stripe], state)

    async def invalidate(self, workspace: str, customer_id: str) -> None:
        self._versions[self._stripe(workspace, customer_id)] += 1

    async def close(self) -> None:
        self._values.clear()


class RedisStateCache:
    """Values and versions in Redis, shared by every replica.

    Versions are random tokens, not counters, so a version key that expired or was
    evicted can never come back equal to the tag of an old value. Both keys of a
    customer share a hash tag, so one MGET reads them together (also on a cluster).
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
    def from_url(cls, url: str, *, timeout_seconds: float, **kwargs: Any) -> RedisStateCache:
        client = redis_asyncio.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )
        return cls(client, **kwargs)

    def _version_key(self, workspace: str, customer_id: str) -> str:
        return f"{self._prefix}{{{workspace}/{customer_id}}}:v"

    def _value_key(self, key: ConsentKey) -> str:
        return f"{self._prefix}{{{key.workspace}/{key.customer_id}}}:{key.purpose}:{key.channel}"

    def _readers_paused(self) -> bool:
        return time.monotonic() < self._readers_paused_until

    def _pause_readers(self, exc: BaseException) -> None:
        # Checks go straight to the database for a moment instead of each waiting
        # for a Redis timeout.
        self._readers_paused_until = time.monotonic() + self._reader_backoff
        _log.warning(
            "consent cache unavailable, reading the database",
            extra={"error_reason": type(exc).__name__},
        )

    async def get_many(
        self, keys: Sequence[ConsentKey], now: datetime
    ) -> list[tuple[CurrentState | None, VersionTag]]:
        misses: list[tuple[CurrentState | None, VersionTag]] = [(None, None)] * len(keys)
        if not keys or self._readers_paused():
            return misses
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.mget(
                        self._version_key(key.workspace, key.customer_id), self._value_key(key)
                    )
                replies = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self._pause_readers(exc)
            return misses

        answers: list[tuple[CurrentState | None, VersionTag]] = []
        unversioned: set[tuple[str, str]] = set()
        for key, (version, raw) in zip(keys, replies, strict=True):
            if version is None:
                unversioned.add((key.workspace, key.customer_id))
                answers.append((None, None))
                continue
            state = _decode(raw, version) if raw is not None else None
            if state is not None and _usable(state, now):
                answers.append((state, version))
            else:
                answers.append((None, version))
        if unversioned:
            await self._create_versions(unversioned)
        return answers

    async def _create_versions(self, customers: set[tuple[str, str]]) -> None:
        # A fresh random version (NX: never replaces a writer's); values are stored
        # from the next miss on.
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for workspace, customer_id in customers:
                    pipe.set(
                        self._version_key(workspace, customer_id),
                        uuid.uuid4().hex,
                        nx=True,
                        px=self._version_ttl_ms,
                    )
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self._pause_readers(exc)

    async def put_many(
        self, items: Sequence[tuple[ConsentKey, VersionTag, CurrentState]], now: datetime
    ) -> None:
        storable = []
        for key, tag, state in items:
            if not isinstance(tag, str):
                continue
            ttl_ms = self._ttl_ms
            if state.valid_until is not None:
                ttl_ms = min(ttl_ms, math.floor((state.valid_until - now).total_seconds() * 1000))
            if ttl_ms > 0:
                storable.append((self._value_key(key), _encode(state, tag), ttl_ms))
        if not storable or self._readers_paused():
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for value_key, value, ttl_ms in storable:
                    pipe.set(value_key, value, px=ttl_ms)
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self._pause_readers(exc)

    async def invalidate(self, workspace: str, customer_id: str) -> None:
        last_error: BaseException | None = None
        for _attempt in range(self._invalidation_attempts):
            try:
                await self._client.set(
                    self._version_key(workspace, customer_id),
                    uuid.uuid4().hex,
                    px=self._version_ttl_ms,
                )
                return
            except (TimeoutError, RedisError, OSError) as exc:
                last_error = exc
        raise CacheInvalidationError(type(last_error).__name__) from last_error

    async def close(self) -> None:
        await self._client.aclose()


# --- (de)serialisation of cached states -------------------------------------------------


def _entry_to_json(entry: ConsentEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "workspace": entry.workspace,
        "customer_id": entry.customer_id,
        "purpose": entry.purpose,
        "channel": entry.channel.value,
        "state": entry.state.value,
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
        channel=Channel(data["channel"]),
        state=ConsentState(data["state"]),
        source=data["source"],
        notice_version=data["notice_version"],
        proof=data["proof"],
        effective_time=datetime.fromisoformat(data["effective_time"]),
        record_time=datetime.fromisoformat(data["record_time"]),
        seq=int(data["seq"]),
    )


def _encode(state: CurrentState, version: str) -> str:
    return json.dumps(
        {
            "v": version,
            "e": _entry_to_json(state.entry) if state.entry is not None else None,
            "u": state.valid_until.isoformat() if state.valid_until is not None else None,
        },
        separators=(",", ":"),
    )


def _decode(raw: str, version: str) -> CurrentState | None:
    """The cached state if it carries the current version; None otherwise."""
    try:
        data = json.loads(raw)
        if data.get("v") != version:
            return None
        entry = _entry_from_json(data["e"]) if data["e"] is not None else None
        valid_until = datetime.fromisoformat(data["u"]) if data["u"] is not None else None
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: read the database instead
    return CurrentState(entry, valid_until)
