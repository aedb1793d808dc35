"""Storage of the catalogue: actions and triggers (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.model import Action, Channel, MessageContent, Trigger
from rapport.sqlstore import as_utc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables


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
    )


def _trigger_values(trigger: Trigger) -> dict[str, Any]:
    return {
        "event_name": trigger.event_name,
        "condition": trigger.condition,
        "action_id": trigger.action_id,
        "channel": trigger.channel.value,
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
    )


class ActionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, action: Action) -> bool:
        """Insert; False when an action with this id already exists."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(
                    tables.actions.insert().values(
                        workspace=action.workspace,
                        action_id=action.action_id,
                        create_time=action.create_time,
                        **_action_values(action),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def put(self, action: Action) -> None:
        """Create or replace (keeping the original create_time)."""
        if not await self.add(action):
            await self._conn.execute(
                tables.actions.update()
                .where(
                    tables.actions.c.workspace == action.workspace,
                    tables.actions.c.action_id == action.action_id,
                )
                .values(**_action_values(action))
            )

    async def get(self, workspace: str, action_id: str) -> Action | None:
        row = (
            await self._conn.execute(
                sa.select(tables.actions).where(
                    tables.actions.c.workspace == workspace,
                    tables.actions.c.action_id == action_id,
                )
            )
        ).first()
        return _action_from_row(row) if row is not None else None

    async def list_page(
        self, workspace: str, *, after: str | None = None, limit: int | None = None
    ) -> list[Action]:
        """By id (so by name); keyset: only ids after `after`."""
        query = sa.select(tables.actions).where(tables.actions.c.workspace == workspace)
        if after is not None:
            query = query.where(tables.actions.c.action_id > after)
        query = query.order_by(tables.actions.c.action_id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self._conn.execute(query)).all()
        return [_action_from_row(row) for row in rows]

    async def list_all(self, workspace: str) -> list[Action]:
        """Every action of the workspace, by id."""
        return await self.list_page(workspace)

    async def delete(self, workspace: str, action_id: str) -> bool:
        result = await self._conn.execute(
            tables.actions.delete().where(
                tables.actions.c.workspace == workspace,
                tables.actions.c.action_id == action_id,
            )
        )
        return result.rowcount > 0


class TriggerRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, trigger: Trigger) -> bool:
        """Insert; False when a trigger with this id already exists."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(
                    tables.triggers.insert().values(
                        workspace=trigger.workspace,
                        trigger_id=trigger.trigger_id,
                        create_time=trigger.create_time,
                        **_trigger_values(trigger),
                    )
                )
        except IntegrityError:
            return False
        return True

    async def put(self, trigger: Trigger) -> None:
        """Create or replace (keeping the original create_time)."""
        if not await self.add(trigger):
            await self._conn.execute(
                tables.triggers.update()
                .where(
                    tables.triggers.c.workspace == trigger.workspace,
                    tables.triggers.c.trigger_id == trigger.trigger_id,
                )
                .values(**_trigger_values(trigger))
            )

    async def get(self, workspace: str, trigger_id: str) -> Trigger | None:
        row = (
            await self._conn.execute(
                sa.select(tables.triggers).where(
                    tables.triggers.c.workspace == workspace,
                    tables.triggers.c.trigger_id == trigger_id,
                )
            )
        ).first()
        return _trigger_from_row(row) if row is not None else None

    async def list_page(
        self, workspace: str, *, after: str | None = None, limit: int | None = None
    ) -> list[Trigger]:
        """By id (so by name); keyset: only ids after `after`."""
        query = sa.select(tables.triggers).where(tables.triggers.c.workspace == workspace)
        if after is not None:
            query = query.where(tables.triggers.c.trigger_id > after)
        query = query.order_by(tables.triggers.c.trigger_id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self._conn.execute(query)).all()
        return [_trigger_from_row(row) for row in rows]

    async def for_event(self, workspace: str, event_name: str) -> list[Trigger]:
        rows = (
            await self._conn.execute(
                sa.select(tables.triggers)
                .where(
                    tables.triggers.c.workspace == workspace,
                    tables.triggers.c.event_name == event_name,
                )
                .order_by(tables.triggers.c.trigger_id)
            )
        ).all()
        return [_trigger_from_row(row) for row in rows]

    async def delete_for_action(self, workspace: str, action_id: str) -> int:
        result = await self._conn.execute(
            tables.triggers.delete().where(
                tables.triggers.c.workspace == workspace,
                tables.triggers.c.action_id == action_id,
            )
        )
        return result.rowcount
