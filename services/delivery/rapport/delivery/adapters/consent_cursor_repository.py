"""Where delivery is in each workspace's consent ledger (WatchConsentRecords cursors)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import consent_cursors


class ConsentCursors:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get(self, workspace: str) -> int:
        """The last ledger position handled in `workspace` (0: none yet)."""
        value = await self._conn.scalar(
            select(consent_cursors.c.cursor).where(consent_cursors.c.workspace == workspace)
        )
        return int(value or 0)

    async def advance(self, workspace: str, cursor: int, now: datetime) -> None:
        """Move the position forward to `cursor` (never back: replicas may race)."""
        result = await self._conn.execute(
            update(consent_cursors)
            .where(consent_cursors.c.workspace == workspace, consent_cursors.c.cursor < cursor)
            .values(cursor=cursor, update_time=now)
        )
        if result.rowcount:
            return
        exists = await self._conn.scalar(
            select(consent_cursors.c.cursor).where(consent_cursors.c.workspace == workspace)
        )
        if exists is None:
            await self._conn.execute(
                consent_cursors.insert().values(workspace=workspace, cursor=cursor, update_time=now)
            )
