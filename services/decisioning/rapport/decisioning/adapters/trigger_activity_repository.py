"""Storage of trigger activities (SQLAlchemy Core), listed newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.trigger_activity import (
    ActivityOutcome,
    ActivitySignal,
    SignalRef,
    TriggerActivity,
)
from rapport.sqlstore import as_utc, insert_if_absent
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables

# A keyset position in a newest-first listing: (create_time, activity id) of the last row.
Position = tuple[datetime, str]

_t = tables.trigger_activities
# A replayed signal keeps the activity it left first.
_INSERT = insert_if_absent(_t, "workspace", "trigger_id", "activity_id")


def _row(activity: TriggerActivity) -> dict[str, Any]:
    return {
        "workspace": activity.workspace,
        "trigger_id": activity.trigger_id,
        "activity_id": activity.activity_id,
        "customer": activity.customer,
        "signal_kind": activity.signal.kind.value,
        "signal_cursor": activity.signal.cursor,
        "event_message_id": activity.signal.event_message_id,
        "outcome": activity.outcome.value,
        "reason": activity.reason,
        "decision_id": activity.decision_id or None,
        "message": activity.message or None,
        "create_time": activity.create_time,
    }


def _activity(row: Any) -> TriggerActivity:
    return TriggerActivity(
        workspace=row.workspace,
        trigger_id=row.trigger_id,
        activity_id=row.activity_id,
        customer=row.customer,
        signal=SignalRef(ActivitySignal(row.signal_kind), row.signal_cursor, row.event_message_id),
        outcome=ActivityOutcome(row.outcome),
        reason=row.reason,
        create_time=as_utc(row.create_time),
        decision_id=row.decision_id or "",
        message=row.message or "",
    )


class TriggerActivityRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add_if_absent(self, activity: TriggerActivity) -> None:
        """Insert unless the (trigger, activity) exists: a replay changes nothing."""
        await self._conn.execute(_INSERT[self._conn.dialect.name].values(_row(activity)))

    async def add_many_if_absent(self, activities: Sequence[TriggerActivity]) -> None:
        """As add_if_absent, in one statement (executemany)."""
        if activities:
            await self._conn.execute(
                _INSERT[self._conn.dialect.name], [_row(a) for a in activities]
            )

    async def get(
        self, workspace: str, trigger_id: str, activity_id: str
    ) -> TriggerActivity | None:
        row = (
            await self._conn.execute(
                sa.select(_t).where(
                    _t.c.workspace == workspace,
                    _t.c.trigger_id == trigger_id,
                    _t.c.activity_id == activity_id,
                )
            )
        ).first()
        return _activity(row) if row is not None else None

    async def list_page(
        self,
        workspace: str,
        *,
        trigger_id: str | None = None,
        customer: str | None = None,
        outcome: ActivityOutcome | None = None,
        before: Position | None = None,
        limit: int,
    ) -> list[TriggerActivity]:
        """Newest first (then by id, descending); keyset: only rows after `before`."""
        query = sa.select(_t).where(_t.c.workspace == workspace)
        if trigger_id is not None:
            query = query.where(_t.c.trigger_id == trigger_id)
        if customer is not None:
            query = query.where(_t.c.customer == customer)
        if outcome is not None:
            query = query.where(_t.c.outcome == outcome.value)
        if before is not None:
            time, id_ = before
            query = query.where(
                sa.or_(
                    _t.c.create_time < time,
                    sa.and_(_t.c.create_time == time, _t.c.activity_id < id_),
                )
            )
        query = query.order_by(_t.c.create_time.desc(), _t.c.activity_id.desc()).limit(limit)
        return [_activity(row) for row in (await self._conn.execute(query)).all()]

    async def delete_customer(self, workspace: str, customer: str) -> int:
        result = await self._conn.execute(
            _t.delete().where(_t.c.workspace == workspace, _t.c.customer == customer)
        )
        return result.rowcount or 0

    async def prune(self, workspace: str, *, made_before: datetime, limit: int) -> int:
        """Delete up to `limit` of the workspace's activities recorded before
        `made_before`; how many were."""
        oldest = (
            sa.select(_t.c.workspace, _t.c.trigger_id, _t.c.activity_id)
            .where(_t.c.workspace == workspace, _t.c.create_time < made_before)
            .limit(limit)
        )
        result = await self._conn.execute(
            _t.delete().where(
                sa.tuple_(_t.c.workspace, _t.c.trigger_id, _t.c.activity_id).in_(oldest)
            )
        )
        return result.rowcount or 0
