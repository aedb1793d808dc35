"""Storage of TIME_WINDOW trigger backfills: the definition each ran for, the page token
it resumes from, how many profiles it scheduled, and the replica holding it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.sqlstore import as_utc, insert_if_absent
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables

_INSERT = insert_if_absent(tables.trigger_backfills, "workspace", "trigger_id")


@dataclass(frozen=True)
class TriggerBackfill:
    workspace: str
    trigger_id: str
    definition: str
    # Profile's page token to continue from ('' at the start).
    page_token: str
    profile_count: int
    start_time: datetime
    complete_time: datetime | None

    def done_for(self, definition: str) -> bool:
        """Whether it completed for ``definition`` (a trigger redefined since is not)."""
        return self.definition == definition and self.complete_time is not None


def _backfill(row: sa.Row[Any]) -> TriggerBackfill:
    return TriggerBackfill(
        row.workspace,
        row.trigger_id,
        row.definition,
        row.page_token,
        int(row.profile_count),
        as_utc(row.start_time),
        as_utc(row.complete_time) if row.complete_time is not None else None,
    )


class TriggerBackfillRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    def _key(self, workspace: str, trigger_id: str) -> sa.ColumnElement[bool]:
        t = tables.trigger_backfills
        return sa.and_(t.c.workspace == workspace, t.c.trigger_id == trigger_id)

    async def of_workspace(self, workspace: str) -> dict[str, TriggerBackfill]:
        """The backfills of the workspace's triggers, by trigger id."""
        t = tables.trigger_backfills
        rows = await self._conn.execute(sa.select(t).where(t.c.workspace == workspace))
        return {row.trigger_id: _backfill(row) for row in rows}

    async def claim(
        self,
        workspace: str,
        trigger_id: str,
        definition: str,
        owner: str,
        now: datetime,
        until: datetime,
    ) -> TriggerBackfill | None:
        """Hold the trigger's backfill for ``definition`` until ``until``: started anew
        for a definition it never ran for; None when it is complete for it or another
        replica holds it."""
        t = tables.trigger_backfills
        key = self._key(workspace, trigger_id)
        row = (await self._conn.execute(sa.select(t).where(key))).first()
        if row is not None and _backfill(row).done_for(definition):
            return None  # done: the usual answer, read without writing
        await self._conn.execute(
            _INSERT[self._conn.dialect.name].values(
                workspace=workspace,
                trigger_id=trigger_id,
                definition=definition,
                page_token="",
                profile_count=0,
                start_time=now,
                complete_time=None,
                claimed_by=None,
                claimed_until=None,
                update_time=now,
            )
        )
        row = (await self._conn.execute(sa.select(t).where(key))).one()
        if row.definition != definition:
            # Redefined: what was scheduled for the old definition does not count. A
            # replica still paging the old one loses its claim (advance checks both).
            values: dict[str, Any] = {
                "definition": definition,
                "page_token": "",
                "profile_count": 0,
                "start_time": now,
                "complete_time": None,
            }
        elif row.complete_time is not None:
            return None
        elif row.claimed_by not in (None, owner) and as_utc(row.claimed_until) > now:
            return None
        else:
            values = {}
        await self._conn.execute(
            t.update()
            .where(key)
            .values(**values, claimed_by=owner, claimed_until=until, update_time=now)
        )
        return _backfill((await self._conn.execute(sa.select(t).where(key))).one())

    async def forget_others(self, workspace: str, live_trigger_ids: Collection[str]) -> None:
        """Drop the backfills of triggers no longer live: published again later, such a
        trigger is backfilled again (the dates set meanwhile had no trigger to schedule)."""
        t = tables.trigger_backfills
        await self._conn.execute(
            t.delete().where(
                t.c.workspace == workspace, t.c.trigger_id.not_in(list(live_trigger_ids))
            )
        )

    async def advance(
        self,
        backfill: TriggerBackfill,
        owner: str,
        page_token: str,
        scheduled: int,
        now: datetime,
        until: datetime,
    ) -> bool:
        """Record a page done: continue from ``page_token`` ('' completes the backfill),
        ``scheduled`` more profiles; False (nothing written) when the claim was lost or
        the trigger was redefined meanwhile."""
        t = tables.trigger_backfills
        done = not page_token
        result = await self._conn.execute(
            t.update()
            .where(
                self._key(backfill.workspace, backfill.trigger_id),
                t.c.definition == backfill.definition,
                t.c.claimed_by == owner,
            )
            .values(
                page_token=page_token,
                profile_count=t.c.profile_count + scheduled,
                complete_time=now if done else None,
                claimed_by=None if done else owner,
                claimed_until=None if done else until,
                update_time=now,
            )
        )
        return result.rowcount == 1
