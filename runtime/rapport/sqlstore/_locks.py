"""PostgreSQL advisory locks named by strings, the same in every replica."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

# Sorted in the statement too: every transaction takes its locks in one global order,
# so two transactions locking overlapping sets queue instead of deadlocking.
_LOCK_MANY = text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(:keys) AS k ORDER BY k) AS ordered_keys"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)))
_SHARE_MANY = text(
    "SELECT pg_advisory_xact_lock_shared(k)"
    " FROM (SELECT unnest(:keys) AS k ORDER BY k) AS ordered_keys"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)))


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit advisory lock key for ``parts`` (e.g. a namespace, a
    workspace, an id): BLAKE2b-64 of the parts joined by U+001F, which parts must not
    contain. Unlike ``hash()``, the same in every process and release."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def advisory_xact_locks(
    connection: AsyncConnection, keys: Iterable[int], *, shared: bool = False
) -> None:
    """Lock every key until the current transaction ends, in one sorted statement;
    ``shared``: in shared mode (held by many transactions at once, excluding only
    holders of the exclusive lock: readers of a definition against its writers).

    PostgreSQL only; a no-op elsewhere: SQLite already serialises writers (see
    SqlUnitOfWork). Call it inside a transaction (a unit of work), or the locks are
    released at once.
    """
    if connection.dialect.name != "postgresql":
        return
    ordered = sorted(set(keys))
    if ordered:
        await connection.execute(_SHARE_MANY if shared else _LOCK_MANY, {"keys": ordered})
