"""Storage of how far the trigger runner got in each workspace's profile signal log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables


class SignalCursorRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get(self, workspace: str) -> str:
        """The last handled signal's cursor; empty when none was handled yet."""
        value = await self._conn.scalar(
            sa.select(tables.signal_cursors.c.cursor).where(
                tables.signal_cursors.c.workspace == workspace
            )
        )
        return value or ""

    async def save(self, workspace: str, cursor: str, now: datetime) -> None:
        """Update, or insert the first one. Two replicas inserting at once: the loser's
        unique violation is a transient conflict (run the unit with
        rapport.sqlstore.run_with_retries); cursors are opaque, so the last writer
        wins, and a cursor left behind only causes replays the sends' keys absorb."""
        result = await self._conn.execute(
            tables.signal_cursors.update()
            .where(tables.signal_cursors.c.workspace == workspace)
            .values(cursor=cursor, update_time=now)
        )
        if result.rowcount == 0:
            await self._conn.execute(
                tables.signal_cursors.insert().values(
                    workspace=workspace, cursor=cursor, update_time=now
                )
            )
