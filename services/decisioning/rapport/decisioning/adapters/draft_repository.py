"""Storage of the draft's action groups and settings, and the lock every draft writer takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.model import ActionGroup
from rapport.decisioning.domain.policies import DecisionSettings
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .catalogue_repository import _Items
from .config_json import settings_from_json, settings_to_json

_GROUP_TEXT = (
    "display_name",
    "description",
    "issue",
    "eligibility",
    "applicability",
    "suitability",
)


def _group_values(group: ActionGroup) -> dict[str, Any]:
    return {
        **{key: getattr(group, key) for key in _GROUP_TEXT},
        "lever": group.lever,
        "update_time": group.update_time,
    }


def _group_from_row(row: Any) -> ActionGroup:
    return ActionGroup(
        workspace=row.workspace,
        group_id=row.group_id,
        lever=row.lever,
        create_time=as_utc(row.create_time),
        update_time=as_utc(row.update_time),
        **{key: getattr(row, key) for key in _GROUP_TEXT},
    )


class ActionGroupRepository(_Items):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, tables.action_groups, "group_id", _group_from_row)

    async def add(self, group: ActionGroup) -> bool:
        values = {"create_time": group.create_time, **_group_values(group)}
        return await self._insert(group.workspace, group.group_id, values)

    async def put(self, group: ActionGroup) -> None:
        """Create or replace (keeping the original create_time)."""
        if not await self.add(group):
            await self._update(group.workspace, group.group_id, _group_values(group))

    async def list_page(
        self,
        workspace: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        issue: str | None = None,
    ) -> list[ActionGroup]:
        where = tables.action_groups.c.issue == issue if issue is not None else None
        return await super().list_page(workspace, after=after, limit=limit, where=where)


class DraftRepository:
    """The draft as a whole: its lock and its settings."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def lock(self, workspace: str) -> None:
        """Serialise the draft's writers and publishers (PostgreSQL; SQLite serialises
        writers already), so a publication never sees half an edit and the checks
        between items (a trigger's action exists...) hold when they commit."""
        await advisory_xact_locks(self._conn, [advisory_key("decisioning.draft", workspace)])

    async def settings(self, workspace: str) -> DecisionSettings:
        """The draft's settings; the defaults when they were never changed."""
        stored = await self._conn.scalar(
            sa.select(tables.decision_settings.c.settings).where(
                tables.decision_settings.c.workspace == workspace
            )
        )
        return settings_from_json(stored) if stored is not None else DecisionSettings()

    async def put_settings(self, workspace: str, settings: DecisionSettings, now: datetime) -> None:
        """Store the settings (call under lock(): the update-then-insert cannot race)."""
        values = {"settings": settings_to_json(settings), "update_time": now}
        table = tables.decision_settings
        result = await self._conn.execute(
            table.update().where(table.c.workspace == workspace).values(**values)
        )
        if result.rowcount == 0:
            await self._conn.execute(table.insert().values(workspace=workspace, **values))

    async def reset_settings(self, workspace: str) -> None:
        await self._conn.execute(
            tables.decision_settings.delete().where(
                tables.decision_settings.c.workspace == workspace
            )
        )
