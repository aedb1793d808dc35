"""Idempotency keys in force: which message a key made, and since when.

A key is stored as given, or as its erased form (domain.erased_keys) once its message's
customer was erased: each lookup takes both forms and reads them in one statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # The key as it is stored: the one given, or its erased form.
    stored_key: str


_INSERT_KEY = idempotency_keys.insert()
# Built once: every accept batch reads its keys with it (each key and its erased form).
_KEYS_IN = select(
    idempotency_keys.c.idempotency_key,
    idempotency_keys.c.message_id,
    idempotency_keys.c.create_time,
).where(
    idempotency_keys.c.workspace == bindparam("k_workspace"),
    idempotency_keys.c.idempotency_key.in_(bindparam("k_keys", expanding=True)),
)
_ERASE_KEY = (
    update(idempotency_keys)
    .where(
        idempotency_keys.c.workspace == bindparam("e_workspace"),
        idempotency_keys.c.idempotency_key == bindparam("e_key"),
        # Only while it still answers with the erased message (not one made after expiry).
        idempotency_keys.c.message_id == bindparam("e_message_id"),
    )
    .values(idempotency_key=bindparam("e_erased_key"))
)


class IdempotencyKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get(self, workspace: str, key: str, erased_key: str) -> KeyRecord | None:
        """The record of `key`, stored as given or as `erased_key` (its erased form)."""
        return (await self.get_many(workspace, {key: erased_key})).get(key)

    async def get_many(self, workspace: str, keys: Mapping[str, str]) -> dict[str, KeyRecord]:
        """The records of those of `keys` (each key -> its erased form) stored in
        `workspace` in either form, by key as given."""
        if not keys:
            return {}
        given_by_erased = {erased: key for key, erased in keys.items()}
        rows = (
            await self._conn.execute(
                _KEYS_IN, {"k_workspace": workspace, "k_keys": [*keys, *given_by_erased]}
            )
        ).all()
        found: dict[str, KeyRecord] = {}
        for row in rows:
            stored = row.idempotency_key
            record = KeyRecord(row.message_id, as_utc(row.create_time), stored)  # type: ignore[arg-type]
            if stored in keys:
                found[stored] = record
            else:
                # Stored erased. Were the key stored as given too (never: a key of the
                # erased form is refused, and a resubmission finds the erased row), that
                # row would win.
                found.setdefault(given_by_erased[stored], record)
        return found

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
        """Point an expired key (stored as given or erased) at a new message, stored as
        given again; False when a concurrent submission or erasure changed it first (the
        caller redoes its unit of work and finds what it left)."""
        result = await self._conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.workspace == workspace,
                idempotency_keys.c.idempotency_key == expired.stored_key,
                idempotency_keys.c.message_id == expired.message_id,
            )
            .values(idempotency_key=key, message_id=message_id, create_time=now)
        )
        return result.rowcount == 1

    async def erase(self, workspace: str, erased: Sequence[tuple[str, str, str]]) -> None:
        """(message id, key, erased form) each: the key, while it still answers with that
        message, is stored in its erased form from now on."""
        if erased:
            await self._conn.execute(
                _ERASE_KEY,
                [
                    {
                        "e_workspace": workspace,
                        "e_key": key,
                        "e_message_id": message_id,
                        "e_erased_key": erased_key,
                    }
                    for message_id, key, erased_key in erased
                ],
            )

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
