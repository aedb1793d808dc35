"""Storage of the draft's actions and triggers (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.model import Action, Channel, MessageContent, Trigger
from rapport.decisioning.domain.signals import trigger_spec, trigger_spec_fields
from rapport.sqlstore import as_utc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .config_json import treatments_from_json, treatments_to_json


def _action_values(action: Action) -> dict[str, Any]:
    return {
        "display_name": action.display_name,
        "description": action.description,
        "channels": [c.value for c in action.channels],
        "purpose": action.purpose,
        "value": action.value,
        "lever": action.lever,
        "base_propensity": action.base_propensity,
        "eligibility": action.eligibility,
        "subject": action.content.subject,
        "text_body": action.content.text_body,
        "html_body": action.content.html_body,
        "start_time": action.start_time,
        "end_time": action.end_time,
        "group_id": action.group_id,
        "treatments": treatments_to_json(action.treatments),
        "tags": list(action.tags),
        "applicability": action.applicability,
        "suitability": action.suitability,
        "update_time": action.update_time,
    }


def _action_from_row(row: Any) -> Action:
    return Action(
        workspace=row.workspace,
        action_id=row.action_id,
        display_name=row.display_name,
        description=row.description,
        channels=tuple(Channel(c) for c in row.channels),
        purpose=row.purpose,
        value=row.value,
        lever=row.lever,
        base_propensity=row.base_propensity,
        eligibility=row.eligibility,
        content=MessageContent(row.subject, row.text_body, row.html_body),
        start_time=as_utc(row.start_time),
        end_time=as_utc(row.end_time),
        create_time=as_utc(row.create_time),
        # NULL or '' in rows written before migration 0003.
        group_id=row.group_id or "",
        treatments=treatments_from_json(row.treatments),
        tags=tuple(row.tags or ()),
        applicability=row.applicability or "",
        suitability=row.suitability or "",
        update_time=as_utc(row.update_time),
    )


def _trigger_values(trigger: Trigger) -> dict[str, Any]:
    return {
        "event_name": trigger.event_name,
        "condition": trigger.condition,
        "action_id": trigger.action_id,
        "channel": trigger.channel.value,
        "update_time": trigger.update_time,
        "spec": trigger_spec(trigger) or None,
    }


def _trigger_from_row(row: Any) -> Trigger:
    return Trigger(
        workspace=row.workspace,
        trigger_id=row.trigger_id,
        event_name=row.event_name,
        condition=row.condition,
        action_id=row.action_id,
        channel=Channel(row.channel),
        create_time=as_utc(row.create_time),
        update_time=as_utc(row.update_time),
        # NULL before 0005 and for plain event triggers.
        **trigger_spec_fields(row.spec),
    )


class _Items:
    """Rows of one kind of draft item, keyed by (workspace, id)."""

    def __init__(
        self, connection: AsyncConnection, table: sa.Table, id_column: str, from_row: Any
    ) -> None:
        self._conn = connection
        self._table = table
        self._id = table.c[id_column]
        self._id_name = id_column
        self._from_row = from_row

    def _where(self, workspace: str, item_id: str) -> Any:
        return sa.and_(self._table.c.workspace == workspace, self._id == item_id)

    async def _insert(self, workspace: str, item_id: str, values: dict[str, Any]) -> bool:
        """Insert; False when an item with this id already exists."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(
                    self._table.insert().values(
                        workspace=workspace, **{self._id_name: item_id}, **values
                    )
                )
        except IntegrityError:
            return False
        return True

    async def _update(self, workspace: str, item_id: str, values: dict[str, Any]) -> bool:
        result = await self._conn.execute(
            self._table.update().where(self._where(workspace, item_id)).values(**values)
        )
        return result.rowcount > 0

    async def get(self, workspace: str, item_id: str) -> Any:
        row = (
            await self._conn.execute(sa.select(self._table).where(self._where(workspace, item_id)))
        ).first()
        return self._from_row(row) if row is not None else None

    async def list_page(
        self,
        workspace: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        where: Any = None,
    ) -> list[Any]:
        """By id (so by name); keyset: only ids after `after`."""
        query = sa.select(self._table).where(self._table.c.workspace == workspace)
        if where is not None:
            query = query.where(where)
        if after is not None:
            query = query.where(self._id > after)
        query = query.order_by(self._id)
        if limit is not None:
            query = query.limit(limit)
        return [self._from_row(row) for row in (await self._conn.execute(query)).all()]

    async def list_all(self, workspace: str) -> list[Any]:
        return await self.list_page(workspace)

    async def delete(self, workspace: str, item_id: str) -> bool:
        result = await self._conn.execute(
            self._table.delete().where(self._where(workspace, item_id))
        )
        return result.rowcount > 0

    async def delete_all(self, workspace: str) -> None:
        await self._conn.execute(self._table.delete().where(self._table.c.workspace == workspace))


class ActionRepository(_Items):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, tables.actions, "action_id", _action_from_row)

    async def add(self, action: Action) -> bool:
        """Insert; False when an action with this id already exists."""
        values = {"create_time": action.create_time, **_action_values(action)}
        return await self._insert(action.workspace, action.action_id, values)

    async def put(self, action: Action) -> None:
        """Create or replace (keeping the original create_time)."""
        if not await self.add(action):
            await self._update(action.workspace, action.action_id, _action_values(action))

    async def list_page(
        self,
        workspace: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        group_id: str | None = None,
    ) -> list[Action]:
        where = tables.actions.c.group_id == group_id if group_id is not None else None
        return await super().list_page(workspace, after=after, limit=limit, where=where)

    async def ids_in_group(self, workspace: str, group_id: str) -> list[str]:
        rows = await self._conn.execute(
            sa.select(tables.actions.c.action_id)
            .where(tables.actions.c.workspace == workspace, tables.actions.c.group_id == group_id)
            .order_by(tables.actions.c.action_id)
        )
        return list(rows.scalars())


class TriggerRepository(_Items):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, tables.triggers, "trigger_id", _trigger_from_row)

    async def add(self, trigger: Trigger) -> bool:
        """Insert; False when a trigger with this id already exists."""
        values = {"create_time": trigger.create_time, **_trigger_values(trigger)}
        return await self._insert(trigger.workspace, trigger.trigger_id, values)

    async def put(self, trigger: Trigger) -> None:
        """Create or replace (keeping the original create_time)."""
        if not await self.add(trigger):
            await self._update(trigger.workspace, trigger.trigger_id, _trigger_values(trigger))

    async def for_action(self, workspace: str, action_id: str) -> list[Trigger]:
        """The triggers sending an action, by id."""
        return await self.list_page(workspace, where=tables.triggers.c.action_id == action_id)
