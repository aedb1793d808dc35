"""Storage of models and of the bandits' sufficient statistics.

Statistics are added to, never overwritten blindly: a writer takes the (model, action)
advisory lock (PostgreSQL; SQLite serialises writers), reads the row, adds its
observation and writes it back with the revision bumped, so concurrent replicas
never lose an update. Readers compare revisions to reload only on a change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from rapport.decisioning.domain.learning import ActionStatistics, ModelKind, ModelMode, ModelSpec
from rapport.decisioning.domain.model import Decision, OutcomeType
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .decision_json import decision_from_row
from .model_contributions import ModelContributionRepository, Removed

_M = tables.models
_S = tables.model_statistics
# Everything but the ONNX model itself, read only when a process loads it.
_SPEC_COLUMNS = [c for c in _M.c if c.name != "onnx_model"]


def _spec_to_json(spec: ModelSpec) -> dict[str, Any]:
    return {
        "kind": spec.kind.value,
        "mode": spec.mode.value,
        "display_name": spec.display_name,
        "description": spec.description,
        "features": list(spec.features),
        "dimensions": spec.dimensions,
        "exploration": spec.exploration,
        "prior_precision": spec.prior_precision,
        "reward_outcome": spec.reward_outcome.value,
        "onnx_sha256": hashlib.sha256(spec.onnx_model).hexdigest() if spec.onnx_model else "",
    }


def _spec_from_row(row: Any) -> ModelSpec:
    spec = row.spec
    return ModelSpec(
        onnx_sha256=spec.get("onnx_sha256", ""),
        revision=row.revision,
        workspace=row.workspace,
        model_id=row.model_id,
        kind=ModelKind(spec["kind"]),
        mode=ModelMode(spec["mode"]),
        display_name=spec["display_name"],
        description=spec["description"],
        features=tuple(spec["features"]),
        dimensions=spec["dimensions"],
        exploration=spec["exploration"],
        prior_precision=spec["prior_precision"],
        reward_outcome=OutcomeType(spec["reward_outcome"]),
        create_time=as_utc(row.create_time),
        update_time=as_utc(row.update_time),
    )


def _array(data: bytes, dims: int, shape: tuple[int, ...]) -> np.ndarray:
    values = np.frombuffer(data, dtype="<f8")
    if values.size != int(np.prod(shape)):
        # Written with other dimensions (a spec change racing a write): start afresh.
        return np.zeros(shape)
    return values.reshape(shape).copy()


def _stats_from_row(row: Any, dims: int) -> ActionStatistics:
    return ActionStatistics(
        xtx=_array(row.xtx, dims, (dims, dims)),
        xr=_array(row.xr, dims, (dims,)),
        xsum=_array(row.xsum, dims, (dims,)),
        count=row.count,
    )


def _bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f8").tobytes()


class ModelRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        # What each outcome added to the statistics, for erasure.
        self.contributions = ModelContributionRepository(connection)

    def _where(self, workspace: str, model_id: str) -> Any:
        return sa.and_(_M.c.workspace == workspace, _M.c.model_id == model_id)

    async def add(self, spec: ModelSpec) -> bool:
        """Insert; False when a model with this id exists."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(
                    _M.insert().values(
                        workspace=spec.workspace,
                        model_id=spec.model_id,
                        spec=_spec_to_json(spec),
                        onnx_model=spec.onnx_model or None,
                        revision=1,
                        create_time=spec.create_time,
                        update_time=spec.update_time,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def replace(self, spec: ModelSpec) -> None:
        await self._conn.execute(
            _M.update()
            .where(self._where(spec.workspace, spec.model_id))
            .values(
                spec=_spec_to_json(spec),
                onnx_model=spec.onnx_model or None,
                revision=_M.c.revision + 1,
                update_time=spec.update_time,
            )
        )

    async def get(
        self, workspace: str, model_id: str, *, for_update: bool = False
    ) -> ModelSpec | None:
        query = sa.select(*_SPEC_COLUMNS).where(self._where(workspace, model_id))
        if for_update and self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _spec_from_row(row) if row is not None else None

    async def onnx_model(self, workspace: str, model_id: str) -> bytes | None:
        return await self._conn.scalar(
            sa.select(_M.c.onnx_model).where(self._where(workspace, model_id))
        )

    async def delete(self, workspace: str, model_id: str) -> bool:
        await self.reset_statistics(workspace, model_id)
        result = await self._conn.execute(_M.delete().where(self._where(workspace, model_id)))
        return result.rowcount > 0

    async def list_all(self, workspace: str) -> list[ModelSpec]:
        rows = await self._conn.execute(
            sa.select(*_SPEC_COLUMNS).where(_M.c.workspace == workspace).order_by(_M.c.model_id)
        )
        return [_spec_from_row(row) for row in rows]

    async def list_page(self, workspace: str, *, after: str | None, limit: int) -> list[ModelSpec]:
        rows = await self._conn.execute(
            sa.select(*_SPEC_COLUMNS)
            .where(_M.c.workspace == workspace, _M.c.model_id > (after or ""))
            .order_by(_M.c.model_id)
            .limit(limit)
        )
        return [_spec_from_row(row) for row in rows]

    async def active_ids(self, workspace: str) -> list[str]:
        rows = await self._conn.execute(
            sa.select(_M.c.model_id, _M.c.spec).where(_M.c.workspace == workspace)
        )
        return [row.model_id for row in rows if row.spec.get("mode") == ModelMode.ACTIVE.value]

    async def fingerprint(self, workspace: str) -> tuple[int, ...]:
        """Changes whenever a model or a statistic of the workspace changes."""
        models = (
            await self._conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_M.c.revision), 0)).where(
                    _M.c.workspace == workspace
                )
            )
        ).one()
        stats = (
            await self._conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_S.c.revision), 0)).where(
                    _S.c.workspace == workspace
                )
            )
        ).one()
        return (int(models[0]), int(models[1]), int(stats[0]), int(stats[1]))

    # -- statistics -------------------------------------------------------------------

    async def statistics(self, spec: ModelSpec) -> dict[str, ActionStatistics]:
        rows = await self._conn.execute(
            sa.select(_S).where(_S.c.workspace == spec.workspace, _S.c.model_id == spec.model_id)
        )
        return {row.action_id: _stats_from_row(row, spec.dimensions) for row in rows}

    async def reset_statistics(self, workspace: str, model_id: str) -> None:
        """Forget what the model learnt, and the contributions that made it up."""
        await self._conn.execute(
            _S.delete().where(_S.c.workspace == workspace, _S.c.model_id == model_id)
        )
        await self.contributions.delete_model(workspace, model_id)

    async def lock_statistics(self, workspace: str, keys: Sequence[tuple[str, str]]) -> None:
        """Hold the (model, action) locks until the transaction ends."""
        await advisory_xact_locks(
            self._conn, [advisory_key("model-stats", workspace, m, a) for m, a in keys]
        )

    async def add_observation(
        self,
        spec: ModelSpec,
        action_id: str,
        x: np.ndarray,
        *,
        exposed: bool,
        reward: float,
        now: datetime,
    ) -> bool:
        """Add one observation; call lock_statistics for the pair first. False when the
        row went away meanwhile (the model's statistics were reset): nothing added."""
        where = sa.and_(
            _S.c.workspace == spec.workspace,
            _S.c.model_id == spec.model_id,
            _S.c.action_id == action_id,
        )
        row = (await self._conn.execute(sa.select(_S).where(where))).first()
        dims = spec.dimensions
        stats = _stats_from_row(row, dims) if row is not None else ActionStatistics.empty(dims)
        stats.add(x, exposed=exposed, reward=reward)
        return await self.save_statistics(
            spec.workspace,
            spec.model_id,
            action_id,
            stats,
            stored=row is not None,
            observations=1,
            now=now,
        )

    async def statistics_of(
        self, workspace: str, pairs: Collection[tuple[str, str]], dimensions: Mapping[str, int]
    ) -> dict[tuple[str, str], ActionStatistics]:
        """The stored statistics of the (model, action) pairs that have a row (call
        lock_statistics for them first); `dimensions` by model id."""
        models = sorted({m for m, _ in pairs})
        actions = sorted({a for _, a in pairs})
        rows = await self._conn.execute(
            sa.select(_S).where(
                _S.c.workspace == workspace, _S.c.model_id.in_(models), _S.c.action_id.in_(actions)
            )
        )
        return {
            (row.model_id, row.action_id): _stats_from_row(row, dimensions[row.model_id])
            for row in rows
            if (row.model_id, row.action_id) in pairs
        }

    async def save_statistics(
        self,
        workspace: str,
        model_id: str,
        action_id: str,
        stats: ActionStatistics,
        *,
        stored: bool,
        observations: int,
        now: datetime,
    ) -> bool:
        """Write statistics that `observations` observations were added to (read with
        statistics_of under the pair's lock; `stored`: a row was read). The revision
        moves by one per observation, as add_observation one at a time moves it. False
        when the row read went away meanwhile (the statistics were reset): nothing added."""
        values = {
            "xtx": _bytes(stats.xtx),
            "xr": _bytes(stats.xr),
            "xsum": _bytes(stats.xsum),
            "count": stats.count,
            "update_time": now,
        }
        if not stored:
            await self._conn.execute(
                _S.insert().values(
                    workspace=workspace,
                    model_id=model_id,
                    action_id=action_id,
                    revision=observations,
                    **values,
                )
            )
            return True
        result = await self._conn.execute(
            _S.update()
            .where(
                _S.c.workspace == workspace, _S.c.model_id == model_id, _S.c.action_id == action_id
            )
            .values(revision=_S.c.revision + observations, **values)
        )
        return result.rowcount > 0

    async def subtract_observations(self, workspace: str, removed: Removed, now: datetime) -> bool:
        """Take contributions away from the statistics (exact: they only add up); call
        lock_statistics for the pair first. False when there is nothing they match."""
        where = sa.and_(
            _S.c.workspace == workspace,
            _S.c.model_id == removed.model_id,
            _S.c.action_id == removed.action_id,
        )
        row = (await self._conn.execute(sa.select(_S).where(where))).first()
        dims = removed.statistics.xr.size
        if row is None or len(row.xr) != dims * 8:
            return False  # learnt afresh since (other dimensions)
        stats, gone = _stats_from_row(row, dims), removed.statistics
        count = max(stats.count - gone.count, 0)
        xtx, xsum = stats.xtx - gone.xtx, stats.xsum - gone.xsum
        if count == 0:
            # No exposure left: Σ x xᵀ and Σ x are exactly 0, without rounding residue.
            xtx, xsum = np.zeros_like(xtx), np.zeros_like(xsum)
        await self._conn.execute(
            _S.update()
            .where(where)
            .values(
                xtx=_bytes(xtx),
                xr=_bytes(stats.xr - gone.xr),
                xsum=_bytes(xsum),
                count=count,
                revision=_S.c.revision + 1,
                update_time=now,
            )
        )
        return True

    async def logged_decisions(
        self, workspace: str, start: datetime, end: datetime, limit: int
    ) -> list[Decision]:
        """The newest `limit` decisions made in [start, end) that recorded features."""
        d = tables.decisions
        rows = await self._conn.execute(
            sa.select(d)
            .where(
                d.c.workspace == workspace,
                d.c.create_time >= start,
                d.c.create_time < end,
                d.c.scoring.is_not(None),
            )
            .order_by(d.c.create_time.desc(), d.c.decision_id.desc())
            .limit(limit)
        )
        return [decision_from_row(row) for row in rows]

    async def rewarded(
        self, workspace: str, decision_ids: Sequence[str], reward: OutcomeType
    ) -> set[tuple[str, str]]:
        """(decision id, action name) pairs with an outcome of type `reward`."""
        found: set[tuple[str, str]] = set()
        o = tables.outcomes
        for start in range(0, len(decision_ids), 500):
            chunk = list(decision_ids[start : start + 500])
            rows = await self._conn.execute(
                sa.select(o.c.decision_id, o.c.action)
                .where(
                    o.c.workspace == workspace,
                    o.c.decision_id.in_(chunk),
                    o.c.type == reward.value,
                )
                .distinct()
            )
            found.update((row.decision_id, row.action) for row in rows)
        return found
