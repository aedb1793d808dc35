"""Idempotency keys in force: which message a key made, and since when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rapport.sqlstore import as_utc
from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .driver_rows import execute_rows
from .tables import idempotency_keys


@dataclass(frozen=True)
class KeyRecord:
    message_id: str
    create_time: datetime


_INSERT_KEY = idempotency_keys.insert()
# Built once: every accept batch reads its keys with it.
_KEYS_IN = select(
    idempotency_keys.c.idempotency_key,
    idempotency_keys.c.message_id,
    idempotency_keys.c.create_time,
).where(
    idempotency_keys.c.workspace == bindparam("k_workspace"),
    idempotency_keys.c.idempotency_key.in_(bindparam("k_keys", expanding=True)),
)


class IdempotencyKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get(self, workspace: str, key: str) -> KeyRecord | None:
        row = (
            await self._conn.execute(
                select(idempotency_keys.c.message_id, idempotency_keys.c.create_time).where(
                    idempotency_keys.c.workspace == workspace,
                    idempotency_keys.c.idempotency_key == key,
                )
            )
        ).first()
        if row is None:
            return None
        return KeyRecord(row.message_id, as_utc(row.create_time))  # type: ignore[arg-type]

    async def get_many(self, workspace: str, keys: Sequence[str]) -> dict[str, KeyRecord]:
        """The records of those of `keys` that are stored in `workspace`, by key."""
        if not keys:
            return {}
        rows = (
            await self._conn.execute(_KEYS_IN, {"k_workspace": workspace, "k_keys": list(keys)})
        ).all()
        return {
            row.idempotency_key: KeyRecord(row.message_id, as_utc(row.create_time))  # type: ignore[arg-type]
            for row in rows
        }

    async def add_many(self, records: Sequence[tuple[str, str, str, datetime]]) -> None:
        """(workspace, key, message id, time) each, in one statement; IntegrityError (a
        UNIQUE_VIOLATION on PostgreSQL) when one is taken, as add."""
        if records:
            await execute_rows(
                self._conn,
                _INSERT_KEY,
                [
                    {
                        "workspace": workspace,
                        "idempotency_key": key,
                        "message_id": message_id,
                        "create_time": now,
                    }
                    for workspace, key, message_id, now in records
                ],
            )

    async def add(self, workspace: str, key: str, message_id: str, now: datetime) -> None:
        """IntegrityError when the key is taken (on PostgreSQL a UNIQUE_VIOLATION, which
        rapport.sqlstore.run_with_retries retries: the retry then finds it)."""
        await self._conn.execute(
            idempotency_keys.insert().values(
                workspace=workspace, idempotency_key=key, message_id=message_id, create_time=now
            )
        )

    async def replace(
        self, workspace: str, key: str, *, expired: KeyRecord, message_id: str, now: datetime
    ) -> bool:
        """Point an expired key at a new message; False when a concurrent submission
        already did (the caller redoes its unit of work and finds that message)."""
        result = await self._conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.workspace == workspace,
                idempotency_keys.c.idempotency_key == key,
                idempotency_keys.c.message_id == expired.message_id,
            )
            .values(message_id=message_id, create_time=now)
        )
        return result.rowcount == 1

    async def prune(self, *, made_before: datetime, limit: int) -> int:
        """Forget up to `limit` keys made at or before `made_before`; how many were."""
        oldest = (
            select(idempotency_keys.c.workspace, idempotency_keys.c.idempotency_key)
            .where(idempotency_keys.c.create_time <= made_before)
            .limit(limit)
        )
        result = await self._conn.execute(
            delete(idempotency_keys).where(
                tuple_(idempotency_keys.c.workspace, idempotency_keys.c.idempotency_key).in_(
                    oldest
                ),
                # Re-checked: a key replaced meanwhile is in force again.
                idempotency_keys.c.create_time <= made_before,
            )
        )
        return result.rowcount
