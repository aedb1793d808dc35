"""Storage of the catalogue file last applied to each workspace (its content's digest)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables


class CatalogueLoadRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def digest(self, workspace: str) -> str | None:
        """The digest of the file last applied; None when none ever was."""
        table = tables.catalogue_loads
        return await self._conn.scalar(
            sa.select(table.c.digest).where(table.c.workspace == workspace)
        )

    async def record(self, workspace: str, digest: str, version: int | None, now: datetime) -> None:
        """Remember the file applied (call under the draft's lock: the update-then-insert
        cannot race)."""
        table = tables.catalogue_loads
        values = {"digest": digest, "version": version, "load_time": now}
        result = await self._conn.execute(
            table.update().where(table.c.workspace == workspace).values(**values)
        )
        if result.rowcount == 0:
            await self._conn.execute(table.insert().values(workspace=workspace, **values))
