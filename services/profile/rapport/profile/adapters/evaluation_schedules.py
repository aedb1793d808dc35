"""When segments and life stage models are next evaluated for every customer, moved
earlier when what their rules read changed for many customers at once (the regular
schedule, the holds and the records of evaluations: segment_repository.py and
life_stage_repository.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from rapport.sqlstore import as_utc
from sqlalchemy import ColumnElement, Table, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import life_stage_models, segments


class EvaluationSchedules:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def segments_due(
        self, workspace: str, segment_ids: Collection[str], *, now: datetime, unless_by: datetime
    ) -> None:
        """The segments due at ``now``, unless due (or held by an evaluation) by
        ``unless_by`` already."""
        if segment_ids:
            only = segments.c.segment_id.in_(sorted(segment_ids))
            await self._due(segments, workspace, now, unless_by, only)

    async def life_stage_model_due(
        self, workspace: str, *, now: datetime, unless_by: datetime
    ) -> None:
        """As ``segments_due``, for the workspace's life stage model."""
        await self._due(life_stage_models, workspace, now, unless_by)

    async def _due(
        self,
        table: Table,
        workspace: str,
        now: datetime,
        unless_by: datetime,
        *where: ColumnElement[bool],
    ) -> None:
        due = table.c.next_evaluation_time
        await self._conn.execute(
            update(table)
            .where(table.c.workspace == workspace, *where)
            .where(or_(due.is_(None), due > as_utc(unless_by)))
            .values(next_evaluation_time=as_utc(now))
        )
