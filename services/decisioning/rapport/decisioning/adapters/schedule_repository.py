"""Storage of time-window trigger firings (the schedule) and of trigger throttles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from rapport.sqlstore import as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables


@dataclass(frozen=True)
class ScheduledFiring:
    workspace: str
    trigger_id: str
    customer: str
    anchor: date
    fire_time: datetime
    # The customer's IANA zone it was scheduled in ('' for UTC).
    time_zone: str = ""
    fired: bool = False


def _firing(row: sa.Row[Any]) -> ScheduledFiring:
    return ScheduledFiring(
        row.workspace,
        row.trigger_id,
        row.customer,
        date.fromisoformat(row.anchor_date),
        as_utc(row.fire_time),
        row.time_zone or "",
        row.fired_time is not None,
    )


def _changed_since(update_time: datetime, moment: datetime | None) -> bool:
    return moment is not None and as_utc(update_time) > moment


class TriggerScheduleRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    def _key(self, workspace: str, trigger_id: str, customer: str) -> sa.ColumnElement[bool]:
        t = tables.trigger_schedules
        return sa.and_(
            t.c.workspace == workspace, t.c.trigger_id == trigger_id, t.c.customer == customer
        )

    async def put(
        self,
        workspace: str,
        trigger_id: str,
        customer: str,
        anchor: date,
        fire_time: datetime,
        now: datetime,
        time_zone: str = "",
        unless_changed_since: datetime | None = None,
    ) -> None:
        """Schedule (or re-schedule) a firing; the same anchor keeps its fired state. With
        ``unless_changed_since`` (when the date was read), a row written after that is
        newer than the date and stays."""
        t = tables.trigger_schedules
        key = self._key(workspace, trigger_id, customer)
        row = (
            await self._conn.execute(sa.select(t.c.anchor_date, t.c.update_time).where(key))
        ).first()
        if row is not None and _changed_since(row.update_time, unless_changed_since):
            return
        if row is None:
            await self._conn.execute(
                t.insert().values(
                    workspace=workspace,
                    trigger_id=trigger_id,
                    customer=customer,
                    anchor_date=anchor.isoformat(),
                    fire_time=fire_time,
                    fired_time=None,
                    update_time=now,
                    claimed_until=None,
                    time_zone=time_zone or None,
                )
            )
        elif row.anchor_date != anchor.isoformat():
            await self._conn.execute(
                t.update()
                .where(key)
                .values(
                    anchor_date=anchor.isoformat(),
                    fire_time=fire_time,
                    fired_time=None,
                    update_time=now,
                    claimed_until=None,
                    time_zone=time_zone or None,
                )
            )

    async def move(
        self, firing: ScheduledFiring, fire_time: datetime, time_zone: str, now: datetime
    ) -> None:
        """Move a firing not yet done to another time (the customer's zone changed)."""
        await self._update_pending(
            firing, fire_time=fire_time, time_zone=time_zone or None, update_time=now
        )

    async def postpone(self, firing: ScheduledFiring, fire_time: datetime, now: datetime) -> None:
        """Move a claimed firing found late to its next send time, and release the claim
        (the firing is due again only then)."""
        await self._update_pending(firing, fire_time=fire_time, claimed_until=None, update_time=now)

    async def _update_pending(self, firing: ScheduledFiring, **values: object) -> None:
        """Set ``values`` on the firing's row unless it was done meanwhile."""
        t = tables.trigger_schedules
        await self._conn.execute(
            t.update()
            .where(
                self._key(firing.workspace, firing.trigger_id, firing.customer),
                t.c.anchor_date == firing.anchor.isoformat(),
                t.c.fired_time.is_(None),
            )
            .values(**values)
        )

    async def remove(
        self,
        workspace: str,
        trigger_id: str,
        customer: str,
        unless_changed_since: datetime | None = None,
    ) -> None:
        """Remove a firing; with ``unless_changed_since``, not one written after it."""
        t = tables.trigger_schedules
        where = [self._key(workspace, trigger_id, customer)]
        if unless_changed_since is not None:
            where.append(t.c.update_time <= unless_changed_since)
        await self._conn.execute(t.delete().where(*where))

    async def claim_due(
        self, workspace: str, now: datetime, limit: int, lease: timedelta
    ) -> list[ScheduledFiring]:
        """Claim the firings not yet done whose time came (earliest first) for `lease`:
        no other replica gets them until the lease ends (a replica that died meanwhile
        leaves them to the next claim). PostgreSQL: rows another transaction is claiming
        are skipped (FOR UPDATE SKIP LOCKED); SQLite's single writer serialises claims."""
        t = tables.trigger_schedules
        rows = (
            await self._conn.execute(
                sa.select(t)
                .where(
                    t.c.workspace == workspace,
                    t.c.fired_time.is_(None),
                    t.c.fire_time <= now,
                    sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now),
                )
                .order_by(t.c.fire_time, t.c.trigger_id, t.c.customer)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        claimed = [_firing(row) for row in rows]
        if claimed:
            await self._conn.execute(
                t.update()
                .where(
                    t.c.workspace == workspace,
                    sa.or_(
                        *(
                            sa.and_(t.c.trigger_id == f.trigger_id, t.c.customer == f.customer)
                            for f in claimed
                        )
                    ),
                )
                .values(claimed_until=now + lease)
            )
        return claimed

    async def mark_fired(self, firing: ScheduledFiring, now: datetime) -> None:
        """Done (sent, or dropped), unless it was re-scheduled meanwhile."""
        t = tables.trigger_schedules
        await self._conn.execute(
            t.update()
            .where(
                self._key(firing.workspace, firing.trigger_id, firing.customer),
                t.c.anchor_date == firing.anchor.isoformat(),
            )
            .values(fired_time=now)
        )

    async def pending(self, workspace: str, customer: str) -> list[ScheduledFiring]:
        t = tables.trigger_schedules
        rows = await self._conn.execute(
            sa.select(t).where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return [_firing(row) for row in rows]

    async def delete_customer(self, workspace: str, customer: str) -> int:
        t = tables.trigger_schedules
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return result.rowcount or 0


class TriggerFireRepository:
    """When each trigger last sent to each customer."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def last(self, workspace: str, trigger_id: str, customer: str) -> datetime | None:
        t = tables.trigger_fires
        value = await self._conn.scalar(
            sa.select(t.c.fire_time).where(
                t.c.workspace == workspace, t.c.trigger_id == trigger_id, t.c.customer == customer
            )
        )
        return as_utc(value) if value is not None else None

    async def record(self, workspace: str, trigger_id: str, customer: str, now: datetime) -> None:
        t = tables.trigger_fires
        key = sa.and_(
            t.c.workspace == workspace, t.c.trigger_id == trigger_id, t.c.customer == customer
        )
        updated = await self._conn.execute(t.update().where(key).values(fire_time=now))
        if not updated.rowcount:
            await self._conn.execute(
                t.insert().values(
                    workspace=workspace, trigger_id=trigger_id, customer=customer, fire_time=now
                )
            )

    async def delete_customer(self, workspace: str, customer: str) -> int:
        t = tables.trigger_fires
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return result.rowcount or 0
