"""Storage of the life stage model of each workspace (customers' stages:
segment_repository.py, beside their segment memberships)."""

from __future__ import annotations

from datetime import datetime

from rapport.profile.domain.segments import LifeStage, LifeStageModel
from rapport.sqlstore import as_utc
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import upsert
from .tables import life_stage_models


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


class LifeStageModelRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get_model(self, workspace: str) -> LifeStageModel:
        row = (
            await self._conn.execute(
                select(life_stage_models).where(life_stage_models.c.workspace == workspace)
            )
        ).first()
        if row is None:
            return LifeStageModel(workspace)
        return LifeStageModel(
            workspace,
            tuple(LifeStage(s["stage"], s["rule"]) for s in row.stages),
            as_utc(row.update_time),
            _utc(row.last_evaluation_time),
            _utc(row.next_evaluation_time),
        )

    async def due_models(self, now: datetime, limit: int) -> list[str]:
        """Workspaces whose life stage model is due for an evaluation of every customer."""
        rows = await self._conn.execute(
            select(life_stage_models.c.workspace)
            .where(life_stage_models.c.next_evaluation_time <= as_utc(now))
            .order_by(life_stage_models.c.next_evaluation_time)
            .limit(limit)
        )
        return list(rows.scalars())

    async def claim_model(
        self, workspace: str, *, version: datetime, due_by: datetime | None, until: datetime
    ) -> bool:
        """Hold the model (updated at ``version``) for evaluation until ``until``; False
        when another replica holds it or it was updated since."""
        query = update(life_stage_models).where(
            life_stage_models.c.workspace == workspace,
            life_stage_models.c.update_time == as_utc(version),
        )
        if due_by is not None:
            query = query.where(life_stage_models.c.next_evaluation_time <= as_utc(due_by))
        result = await self._conn.execute(query.values(next_evaluation_time=as_utc(until)))
        return bool(result.rowcount)

    async def mark_model_evaluated(
        self, workspace: str, *, version: datetime, evaluated: datetime, next_time: datetime | None
    ) -> None:
        await self._conn.execute(
            update(life_stage_models)
            .where(
                life_stage_models.c.workspace == workspace,
                life_stage_models.c.update_time == as_utc(version),
            )
            .values(last_evaluation_time=as_utc(evaluated), next_evaluation_time=_utc(next_time))
        )

    async def save_model(self, model: LifeStageModel) -> None:
        assert model.update_time is not None
        await upsert(
            self._conn,
            life_stage_models,
            [
                {
                    "workspace": model.workspace,
                    "stages": [{"stage": s.stage, "rule": s.rule} for s in model.stages],
                    "update_time": as_utc(model.update_time),
                    "last_evaluation_time": _utc(model.last_evaluation_time),
                    "next_evaluation_time": _utc(model.next_evaluation_time),
                }
            ],
            ("workspace",),
        )
