"""Storage of model contributions: each observation an outcome added to a bandit's
statistics (model, action, x, exposed, reward), with the customer and the decision
and outcome it came from.

Statistics only add up, so subtracting a customer's contributions from them gives
exactly the statistics learnt without that customer (data subject erasure). Rows are
dropped with the model's statistics (ModelRepository.reset_statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from rapport.decisioning.domain.learning import ActionStatistics
from rapport.sqlstore import as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables

_C = tables.model_contributions
Position = tuple[datetime, str]


@dataclass(frozen=True)
class Contribution:
    workspace: str
    outcome_id: str
    model_id: str
    action_id: str
    customer: str
    decision_id: str
    exposed: bool
    reward: float
    create_time: datetime

    @property
    def key(self) -> str:
        """Unique within the workspace and ordered like the rows (paging)."""
        return f"{self.outcome_id}/{self.model_id}"


@dataclass(frozen=True)
class Removed:
    """The summed contributions of one (model, action), for one vector length."""

    model_id: str
    action_id: str
    statistics: ActionStatistics
    rows: int


def _contribution(row: Any) -> Contribution:
    return Contribution(
        workspace=row.workspace,
        outcome_id=row.outcome_id,
        model_id=row.model_id,
        action_id=row.action_id,
        customer=row.customer,
        decision_id=row.decision_id,
        exposed=bool(row.exposed),
        reward=float(row.reward),
        create_time=as_utc(row.create_time),
    )


class ModelContributionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(
        self,
        contribution: Contribution,
        x: np.ndarray,
    ) -> None:
        """Record one observation; in the transaction that adds it to the statistics."""
        await self.add_many([(contribution, x)])

    async def add_many(self, contributions: Sequence[tuple[Contribution, np.ndarray]]) -> None:
        """Record observations in one statement (executemany)."""
        if not contributions:
            return
        rows = [
            {
                "workspace": c.workspace,
                "outcome_id": c.outcome_id,
                "model_id": c.model_id,
                "action_id": c.action_id,
                "customer": c.customer,
                "decision_id": c.decision_id,
                "x": np.ascontiguousarray(x, dtype="<f8").tobytes(),
                "exposed": c.exposed,
                "reward": c.reward,
                "create_time": c.create_time,
            }
            for c, x in contributions
        ]
        await self._conn.execute(_C.insert(), rows)

    async def delete_model(self, workspace: str, model_id: str) -> None:
        await self._conn.execute(
            _C.delete().where(_C.c.workspace == workspace, _C.c.model_id == model_id)
        )

    async def customer_pairs(self, workspace: str, customer: str) -> list[tuple[str, str]]:
        """The (model, action) pairs the customer contributed to."""
        rows = await self._conn.execute(
            sa.select(_C.c.model_id, _C.c.action_id)
            .where(_C.c.workspace == workspace, _C.c.customer == customer)
            .distinct()
        )
        return sorted((row.model_id, row.action_id) for row in rows)

    async def take_customer(
        self, workspace: str, customer: str, pairs: Sequence[tuple[str, str]]
    ) -> list[Removed]:
        """Delete the customer's contributions to `pairs` (whose statistics locks the
        caller holds) and return them summed per (model, action)."""
        if not pairs:
            return []
        where = sa.and_(
            _C.c.workspace == workspace,
            _C.c.customer == customer,
            sa.or_(*(sa.and_(_C.c.model_id == m, _C.c.action_id == a) for m, a in pairs)),
        )
        rows = await self._conn.execute(
            sa.select(_C.c.model_id, _C.c.action_id, _C.c.x, _C.c.exposed, _C.c.reward).where(where)
        )
        sums: dict[tuple[str, str, int], tuple[ActionStatistics, int]] = {}
        for row in rows:
            x = np.frombuffer(row.x, dtype="<f8")
            key = (row.model_id, row.action_id, x.size)
            stats, count = sums.get(key) or (ActionStatistics.empty(x.size), 0)
            stats.add(x, exposed=bool(row.exposed), reward=float(row.reward))
            sums[key] = (stats, count + 1)
        await self._conn.execute(_C.delete().where(where))
        return [
            Removed(model_id, action_id, stats, count)
            for (model_id, action_id, _), (stats, count) in sorted(
                sums.items(), key=lambda item: item[0]
            )
        ]

    async def customer_page(
        self, workspace: str, customer: str, *, before: Position | None, limit: int
    ) -> list[Contribution]:
        """The customer's contributions, newest first; keyset after `before` (time,
        key)."""
        query = sa.select(*[c for c in _C.c if c.name != "x"]).where(
            _C.c.workspace == workspace, _C.c.customer == customer
        )
        if before is not None:
            time, key = before
            outcome_id, _, model_id = key.partition("/")
            query = query.where(
                sa.or_(
                    _C.c.create_time < time,
                    sa.and_(
                        _C.c.create_time == time,
                        sa.or_(
                            _C.c.outcome_id < outcome_id,
                            sa.and_(_C.c.outcome_id == outcome_id, _C.c.model_id < model_id),
                        ),
                    ),
                )
            )
        query = query.order_by(
            _C.c.create_time.desc(), _C.c.outcome_id.desc(), _C.c.model_id.desc()
        ).limit(limit)
        return [_contribution(row) for row in (await self._conn.execute(query)).all()]
