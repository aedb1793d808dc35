"""Storage of decisions and outcomes (SQLAlchemy Core), listed newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    Outcome,
    OutcomeType,
    RankedAction,
    ScoreParts,
)
from rapport.sqlstore import as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables

# A keyset position in a newest-first listing: (create_time, id) of the last row seen.
Position = tuple[datetime, str]


def _ranked_to_json(ranked: RankedAction) -> dict[str, Any]:
    return {
        "action": ranked.action,
        "rank": ranked.rank,
        "priority": ranked.priority,
        "propensity": ranked.score.propensity,
        "context_weight": ranked.score.context_weight,
        "value": ranked.score.value,
        "lever": ranked.score.lever,
        "probability": ranked.probability,
        "channel": ranked.channel.value,
        "explanation": ranked.explanation,
    }


def _score_to_json(score: ScoreParts) -> dict[str, float]:
    return {
        "propensity": score.propensity,
        "context_weight": score.context_weight,
        "value": score.value,
        "lever": score.lever,
    }


def _score_from_json(item: dict[str, Any]) -> ScoreParts:
    return ScoreParts(
        propensity=item["propensity"],
        context_weight=item["context_weight"],
        value=item["value"],
        lever=item["lever"],
    )


def _ranked_from_json(item: dict[str, Any]) -> RankedAction:
    return RankedAction(
        action=item["action"],
        rank=item["rank"],
        priority=item["priority"],
        score=_score_from_json(item),
        probability=item["probability"],
        channel=Channel(item["channel"]),
        # Rows written before explanations were stored have none.
        explanation=item.get("explanation", ""),
    )


def _excluded_to_json(excluded: ExcludedAction) -> dict[str, Any]:
    item: dict[str, Any] = {
        "action": excluded.action,
        "reason": excluded.reason.value,
        "explanation": excluded.explanation,
    }
    if excluded.score is not None:
        item["score"] = _score_to_json(excluded.score)
    return item


def _excluded_from_json(item: dict[str, Any]) -> ExcludedAction:
    score = item.get("score")
    return ExcludedAction(
        action=item["action"],
        reason=ExclusionReason(item["reason"]),
        explanation=item["explanation"],
        score=_score_from_json(score) if score is not None else None,
    )


def _decision_from_row(row: Any) -> Decision:
    return Decision(
        decision_id=row.decision_id,
        workspace=row.workspace,
        customer=row.customer,
        actions=tuple(_ranked_from_json(item) for item in row.actions),
        # NULL in rows written before migration 0002.
        excluded=tuple(_excluded_from_json(item) for item in row.excluded_actions or ()),
        channel=Channel(row.channel) if row.channel else None,
        source=row.source or "",
        create_time=as_utc(row.create_time),
        config_version=row.config_version or 0,
    )


def _outcome_from_row(row: Any) -> Outcome:
    return Outcome(
        workspace=row.workspace,
        outcome_id=row.outcome_id,
        decision_id=row.decision_id or "",
        customer=row.customer,
        action=row.action,
        type=OutcomeType(row.type),
        channel=Channel(row.channel) if row.channel else None,
        outcome_time=as_utc(row.outcome_time),
        create_time=as_utc(row.create_time),
    )


def _before(time_column: Any, id_column: Any, position: Position) -> Any:
    time, id_ = position
    return sa.or_(time_column < time, sa.and_(time_column == time, id_column < id_))


class DecisionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, decision: Decision) -> None:
        await self._conn.execute(
            tables.decisions.insert().values(
                decision_id=decision.decision_id,
                workspace=decision.workspace,
                customer=decision.customer,
                actions=[_ranked_to_json(ranked) for ranked in decision.actions],
                excluded_actions=[_excluded_to_json(e) for e in decision.excluded],
                channel=decision.channel.value if decision.channel else None,
                source=decision.source,
                create_time=decision.create_time,
                config_version=decision.config_version or None,
            )
        )

    async def get(self, workspace: str, decision_id: str) -> Decision | None:
        row = (
            await self._conn.execute(
                sa.select(tables.decisions).where(
                    tables.decisions.c.workspace == workspace,
                    tables.decisions.c.decision_id == decision_id,
                )
            )
        ).first()
        return _decision_from_row(row) if row is not None else None

    async def customer_of(self, workspace: str, decision_id: str) -> str | None:
        """The customer a decision was for; None when there is no such decision."""
        return await self._conn.scalar(
            sa.select(tables.decisions.c.customer).where(
                tables.decisions.c.workspace == workspace,
                tables.decisions.c.decision_id == decision_id,
            )
        )

    async def list_page(
        self,
        workspace: str,
        *,
        customer: str | None = None,
        before: Position | None = None,
        limit: int,
    ) -> list[Decision]:
        """Newest first (then by id, descending); keyset: only rows after `before`."""
        t = tables.decisions
        query = sa.select(t).where(t.c.workspace == workspace)
        if customer is not None:
            query = query.where(t.c.customer == customer)
        if before is not None:
            query = query.where(_before(t.c.create_time, t.c.decision_id, before))
        query = query.order_by(t.c.create_time.desc(), t.c.decision_id.desc()).limit(limit)
        rows = (await self._conn.execute(query)).all()
        return [_decision_from_row(row) for row in rows]


class OutcomeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, outcome: Outcome) -> None:
        await self._conn.execute(
            tables.outcomes.insert().values(
                workspace=outcome.workspace,
                outcome_id=outcome.outcome_id,
                decision_id=outcome.decision_id or None,
                customer=outcome.customer,
                action=outcome.action,
                type=outcome.type.value,
                channel=outcome.channel.value if outcome.channel else None,
                outcome_time=outcome.outcome_time,
                create_time=outcome.create_time,
            )
        )

    async def for_customer(self, workspace: str, customer: str, since: datetime) -> list[Outcome]:
        """The customer's outcomes that happened after `since` (suppression rules)."""
        t = tables.outcomes
        rows = await self._conn.execute(
            sa.select(t).where(
                t.c.workspace == workspace, t.c.customer == customer, t.c.outcome_time > since
            )
        )
        return [_outcome_from_row(row) for row in rows]

    async def get(self, workspace: str, outcome_id: str) -> Outcome | None:
        row = (
            await self._conn.execute(
                sa.select(tables.outcomes).where(
                    tables.outcomes.c.workspace == workspace,
                    tables.outcomes.c.outcome_id == outcome_id,
                )
            )
        ).first()
        return _outcome_from_row(row) if row is not None else None

    async def list_page(
        self,
        workspace: str,
        *,
        decision_id: str | None = None,
        before: Position | None = None,
        limit: int,
    ) -> list[Outcome]:
        """Newest first (by create_time, then id, descending); keyset after `before`."""
        t = tables.outcomes
        query = sa.select(t).where(t.c.workspace == workspace)
        if decision_id is not None:
            query = query.where(t.c.decision_id == decision_id)
        if before is not None:
            query = query.where(_before(t.c.create_time, t.c.outcome_id, before))
        query = query.order_by(t.c.create_time.desc(), t.c.outcome_id.desc()).limit(limit)
        rows = (await self._conn.execute(query)).all()
        return [_outcome_from_row(row) for row in rows]
