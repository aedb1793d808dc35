"""Keys delivery generates for itself and keeps in its database (uow.signing_keys), so
every replica sharing the database, and every restart, uses the same one."""

from __future__ import annotations

from datetime import datetime

from rapport.sqlstore import insert_if_absent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import signing_keys

_INSERT_IF_ABSENT = insert_if_absent(signing_keys, "name")


class SigningKeys:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def kept(self, name: str, candidate: bytes, now: datetime) -> bytes:
        """The key stored under `name`; `candidate` is stored first when none is. Replicas
        starting together agree: the first writer wins, everyone reads what it stored
        (on PostgreSQL the insert waits for a concurrent one and then does nothing; the
        read that follows sees it committed)."""
        await self._conn.execute(
            _INSERT_IF_ABSENT[self._conn.dialect.name].values(
                name=name, secret=candidate.hex(), create_time=now
            )
        )
        stored = await self._conn.scalar(
            select(signing_keys.c.secret).where(signing_keys.c.name == name)
        )
        return bytes.fromhex(stored)
