"""Storage of tracking plans, their revisions and their violation counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rapport.profile.domain.model import EventType
from rapport.profile.domain.tracking import (
    Enforcement,
    TrackingPlan,
    Violation,
    ViolationCount,
    ViolationKind,
)
from rapport.sqlstore import as_utc
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import dialect_insert, insert_new
from .tables import tracking_plan_revisions, tracking_plan_violations, tracking_plans


def _plan(row: Any, create_time: datetime) -> TrackingPlan:
    return TrackingPlan(
        workspace=row.workspace,
        plan_id=row.plan_id,
        display_name=row.display_name,
        enforcement=Enforcement(row.enforcement),
        event_schemas=dict(row.event_schemas),
        identify_schema=row.identify_schema,
        revision_id=int(row.revision_id),
        create_time=as_utc(create_time),
        update_time=as_utc(row.update_time),
    )


def _content(plan: TrackingPlan) -> dict[str, Any]:
    return {
        "display_name": plan.display_name,
        "enforcement": plan.enforcement.value,
        "event_schemas": plan.event_schemas,
        "identify_schema": plan.identify_schema,
        "update_time": as_utc(plan.update_time),
    }


class TrackingPlanRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def create(self, plan: TrackingPlan) -> bool:
        """False when the id is taken."""
        created = await insert_new(
            self._conn,
            tracking_plans,
            [
                {
                    "workspace": plan.workspace,
                    "plan_id": plan.plan_id,
                    "revision_id": plan.revision_id,
                    "create_time": as_utc(plan.create_time),
                    **_content(plan),
                }
            ],
            ("workspace", "plan_id"),
            returning="plan_id",
        )
        if not created:
            return False
        await self._add_revision(plan)
        return True

    async def _add_revision(self, plan: TrackingPlan) -> None:
        await self._conn.execute(
            insert(tracking_plan_revisions),
            [
                {
                    "workspace": plan.workspace,
                    "plan_id": plan.plan_id,
                    "revision_id": plan.revision_id,
                    **_content(plan),
                }
            ],
        )

    async def get(
        self, workspace: str, plan_id: str, *, for_update: bool = False
    ) -> TrackingPlan | None:
        query = select(tracking_plans).where(
            tracking_plans.c.workspace == workspace, tracking_plans.c.plan_id == plan_id
        )
        if for_update and self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _plan(row, row.create_time)

    async def update(self, plan: TrackingPlan) -> None:
        """Store ``plan`` (its revision_id the next one) as the latest revision."""
        await self._conn.execute(
            update(tracking_plans)
            .where(
                tracking_plans.c.workspace == plan.workspace,
                tracking_plans.c.plan_id == plan.plan_id,
            )
            .values(revision_id=plan.revision_id, **_content(plan))
        )
        await self._add_revision(plan)

    async def list(self, workspace: str, *, after: str | None, limit: int) -> list[TrackingPlan]:
        query = select(tracking_plans).where(tracking_plans.c.workspace == workspace)
        if after is not None:
            query = query.where(tracking_plans.c.plan_id > after)
        rows = await self._conn.execute(query.order_by(tracking_plans.c.plan_id).limit(limit))
        return [_plan(row, row.create_time) for row in rows]

    async def all_of(self, workspace: str) -> list[TrackingPlan]:
        return await self.list(workspace, after=None, limit=10_000)

    async def revisions(
        self, plan: TrackingPlan, *, before: int | None, limit: int
    ) -> list[TrackingPlan]:
        table = tracking_plan_revisions
        query = select(table).where(
            table.c.workspace == plan.workspace, table.c.plan_id == plan.plan_id
        )
        if before is not None:
            query = query.where(table.c.revision_id < before)
        rows = await self._conn.execute(query.order_by(table.c.revision_id.desc()).limit(limit))
        return [_plan(row, plan.create_time) for row in rows]

    async def delete(self, workspace: str, plan_id: str) -> bool:
        for table in (tracking_plan_violations, tracking_plan_revisions):
            await self._conn.execute(
                delete(table).where(table.c.workspace == workspace, table.c.plan_id == plan_id)
            )
        result = await self._conn.execute(
            delete(tracking_plans).where(
                tracking_plans.c.workspace == workspace, tracking_plans.c.plan_id == plan_id
            )
        )
        return bool(result.rowcount)

    async def count_violations(
        self, workspace: str, found: Sequence[tuple[Violation, str]], now: datetime
    ) -> None:
        """Add (violation, message id) to the counts (one multi-row upsert)."""
        if not found:
            return
        rows: dict[tuple[str, ...], dict[str, Any]] = {}
        for violation, message_id in found:
            key = (
                violation.plan_id,
                violation.event_type.value,
                violation.event_name,
                violation.kind.value,
                violation.field,
            )
            row = rows.get(key)
            if row is None:
                rows[key] = {
                    "workspace": workspace,
                    "plan_id": violation.plan_id,
                    "event_type": violation.event_type.value,
                    "event_name": violation.event_name,
                    "kind": violation.kind.value,
                    "field": violation.field,
                    "count": 1,
                    "description": violation.description[:1000],
                    "last_message_id": message_id,
                    "last_time": as_utc(now),
                }
            else:
                row["count"] += 1
                row["description"] = violation.description[:1000]
                row["last_message_id"] = message_id
        table = tracking_plan_violations
        statement = dialect_insert(self._conn, table)
        statement = statement.on_conflict_do_update(
            index_elements=["workspace", "plan_id", "event_type", "event_name", "kind", "field"],
            set_={
                "count": table.c.count + statement.excluded.count,
                "description": statement.excluded.description,
                "last_message_id": statement.excluded.last_message_id,
                "last_time": statement.excluded.last_time,
            },
        )
        # Only plans that still exist (one deleted meanwhile keeps no counts).
        existing = set(
            (
                await self._conn.execute(
                    select(tracking_plans.c.plan_id).where(
                        tracking_plans.c.workspace == workspace,
                        tracking_plans.c.plan_id.in_({k[0] for k in rows}),
                    )
                )
            ).scalars()
        )
        kept = [row for key, row in sorted(rows.items()) if key[0] in existing]
        if kept:
            await self._conn.execute(statement, kept)

    async def violation_counts(
        self, workspace: str, plan_id: str, *, offset: int, limit: int
    ) -> tuple[list[ViolationCount], int]:
        """A page of counts, most frequent first, and the total of all counts."""
        table = tracking_plan_violations
        where = (table.c.workspace == workspace, table.c.plan_id == plan_id)
        rows = await self._conn.execute(
            select(table)
            .where(*where)
            .order_by(
                table.c.count.desc(),
                table.c.event_type,
                table.c.event_name,
                table.c.kind,
                table.c.field,
            )
            .offset(offset)
            .limit(limit)
        )
        counts = [
            ViolationCount(
                EventType(row.event_type),
                row.event_name,
                ViolationKind(row.kind),
                row.field,
                int(row.count),
                row.description,
                row.last_message_id,
                as_utc(row.last_time),
            )
            for row in rows
        ]
        total = await self._conn.scalar(
            select(func.coalesce(func.sum(table.c.count), 0)).where(*where)
        )
        return counts, int(total or 0)
