"""Read-through caches that never serve a value read before a committed write.

Every key belongs to a *scope* (a string: one customer, one identifier...) and every
scope has a version. A reader takes the version with its lookup, BEFORE reading the
database, and stores what it read tagged with that version; a writer moves the
versions of the scopes it changed AFTER its commit and before acknowledging; a
value is trusted only while its tag equals the current version. A reader that raced
with a write therefore stores a value nobody will trust, instead of a stale one.

Three variants with one interface (:class:`VersionedCache`), chosen at bootstrap:

- :class:`RedisVersionedCache`: shared by replicas; Redis failures become misses.
- :class:`InProcessVersionedCache`: one process per database (SQLite), where
  invalidating this process's memory is complete.
- :class:`NoVersionedCache`: several replicas and no Redis: no cache at all, since
  one replica could not invalidate another's memory.

Values must not be None (None is the miss). Redis keys hold the scope string, so a
scope that would carry personal data (an email...) should be a digest of it.
"""

from ._common import CacheInvalidationError, Lookup, ValueCodec, VersionedCache, VersionTag
from ._memory import InProcessVersionedCache, NoVersionedCache
from ._redis import RedisOptions, RedisVersionedCache, redis_client

__all__ = [
    "CacheInvalidationError",
    "InProcessVersionedCache",
    "Lookup",
    "NoVersionedCache",
    "RedisOptions",
    "RedisVersionedCache",
    "ValueCodec",
    "VersionTag",
    "VersionedCache",
    "redis_client",
]
