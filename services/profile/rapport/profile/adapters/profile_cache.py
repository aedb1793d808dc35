"""The GetProfile cache: profiles by (workspace, customer), one version scope per customer.

It keeps each profile as GetProfile answers it, already serialized (EncodedProfile):
a hit costs no conversion, and an entry is a plain tuple of bytes and a datetime, which
the garbage collector stops tracking (it would keep tracking a NamedTuple). Kept as
objects (a view with its traits, sources and dicts: a dozen tracked objects each),
2,000 profiles made every full collection take 18-30 ms, a stall of every call waiting
meanwhile; 100,000 would take seconds.

rapport.versionedcache does the work (see there why a reader never stores a value read
before a committed write): in-process on SQLite (one process per database), Redis when
configured (shared by replicas), none on PostgreSQL without Redis (replicas could not
invalidate each other's memory). Ingestion and RemoveTraits invalidate the scopes of
the customers they changed after their commit and before answering.

Redis keys hold workspace and customer ids only (no personal data); values hold the
profile (traits), as the database does.
"""

from __future__ import annotations

import base64
from datetime import datetime

from rapport import versionedcache
from rapport.versionedcache import VersionedCache

# (body, valid_until): a profile as GetProfile answers it (the contract's bytes), and
# the moment its computed values move (the next UTC midnight), None when nothing moves
# by itself.
EncodedProfile = tuple[bytes, datetime | None]


ProfileKey = tuple[str, str]  # (workspace, customer id as asked)
ProfileCache = VersionedCache[ProfileKey, EncodedProfile]


def customer_scope(workspace: str, customer_id: str) -> str:
    return f"{workspace}/{customer_id}"


def _scope(key: ProfileKey) -> str:
    return customer_scope(*key)


def in_process_cache(max_entries: int) -> ProfileCache:
    return versionedcache.InProcessVersionedCache(
        _scope, max_entries=max_entries, stripes=8192, valid_until=_valid_until
    )


def redis_cache(
    url: str, *, timeout_seconds: float, key_prefix: str, ttl_seconds: float
) -> ProfileCache:
    return versionedcache.RedisVersionedCache.from_url(
        url,
        timeout_seconds=timeout_seconds,
        key_prefix=key_prefix,
        scope_of=_scope,
        field_of=lambda _key: "p",
        codec=versionedcache.ValueCodec(_dumps, _loads),
        ttl_seconds=ttl_seconds,
        name="profile",
        valid_until=_valid_until,
    )


def _valid_until(profile: EncodedProfile) -> datetime | None:
    return profile[1]


def no_cache() -> ProfileCache:
    return versionedcache.NoVersionedCache()


def _dumps(profile: EncodedProfile) -> str:
    # Text for Redis (the versioned cache's codec is text): the moment, then base64.
    body, valid_until = profile
    moment = valid_until.isoformat() if valid_until else ""
    return f"{moment}|{base64.b64encode(body).decode('ascii')}"


def _loads(text: str) -> EncodedProfile:
    moment, separator, body = text.partition("|")
    if not separator:
        raise ValueError("not an encoded profile")
    # Bad base64 raises binascii.Error, a ValueError: read as a miss.
    raw = base64.b64decode(body, validate=True)
    return (raw, datetime.fromisoformat(moment) if moment else None)
