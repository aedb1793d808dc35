"""Storage of actions, triggers, decisions, outcomes and signal cursors (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.model import (
    Action,
    Channel,
    Decision,
    MessageContent,
    Outcome,
    OutcomeType,
    Trigger,
)
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


class SqlRepository:
    """All decisioning tables through one connection (the unit of work's)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # -- actions ---------------------------------------------------------------------

    async def add_action(self, action: Action) -> bool:
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

    async def put_action(self, action: Action) -> None:
        """Create or replace (keeping the original create_time)."""
        if not await self.add_action(action):
            await self._conn.execute(
                tables.actions.update()
                .where(
                    tables.actions.c.workspace == action.workspace,
                    tables.actions.c.action_id == action.action_id,
                )
                .values(**_action_values(action))
            )

    async def get_action(self, workspace: str, action_id: str) -> Action | None:
        row = (
            await self._conn.execute(
                sa.select(tables.actions).where(
                    tables.actions.c.workspace == workspace,
                    tables.actions.c.action_id == action_id,
                )
            )
        ).first()
        return _action_from_row(row) if row is not None else None

    async def list_actions(
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

    async def delete_action(self, workspace: str, action_id: str) -> bool:
        result = await self._conn.execute(
            tables.actions.delete().where(
                tables.actions.c.workspace == workspace,
                tables.actions.c.action_id == action_id,
            )
        )
        return result.rowcount > 0

    # -- triggers --------------------------------------------------------------------

    async def add_trigger(self, trigger: Trigger) -> bool:
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

    async def put_trigger(self, trigger: Trigger) -> None:
        if not await self.add_trigger(trigger):
            await self._conn.execute(
                tables.triggers.update()
                .where(
                    tables.triggers.c.workspace == trigger.workspace,
                    tables.triggers.c.trigger_id == trigger.trigger_id,
                )
                .values(**_trigger_values(trigger))
            )

    async def list_triggers(
        self, workspace: str, *, after: str | None = None, limit: int | None = None
    ) -> list[Trigger]:
        query = sa.select(tables.triggers).where(tables.triggers.c.workspace == workspace)
        if after is not None:
            query = query.where(tables.triggers.c.trigger_id > after)
        query = query.order_by(tables.triggers.c.trigger_id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await self._conn.execute(query)).all()
        return [_trigger_from_row(row) for row in rows]

    async def triggers_for_event(self, workspace: str, event_name: str) -> list[Trigger]:
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

    async def delete_triggers_of_action(self, workspace: str, action_id: str) -> int:
        result = await self._conn.execute(
            tables.triggers.delete().where(
                tables.triggers.c.workspace == workspace,
                tables.triggers.c.action_id == action_id,
            )
        )
        return result.rowcount

    # -- decisions and outcomes --------------------------------------------------------

    async def add_decision(self, decision: Decision) -> None:
        await self._conn.execute(
            tables.decisions.insert().values(
                decision_id=decision.decision_id,
                workspace=decision.workspace,
                customer=decision.customer,
                actions=[
                    {
                        "action": ranked.action,
                        "rank": ranked.rank,
                        "priority": ranked.priority,
                        "propensity": ranked.score.propensity,
                        "context_weight": ranked.score.context_weight,
                        "value": ranked.score.value,
                        "lever": ranked.score.lever,
                        "probability": ranked.probability,
                        "channel": ranked.channel.value,
                    }
                    for ranked in decision.actions
                ],
                create_time=decision.create_time,
            )
        )

    async def decision_customer(self, workspace: str, decision_id: str) -> str | None:
        """The customer a decision was for; None when there is no such decision."""
        return await self._conn.scalar(
            sa.select(tables.decisions.c.customer).where(
                tables.decisions.c.workspace == workspace,
                tables.decisions.c.decision_id == decision_id,
            )
        )

    async def add_outcome(self, outcome: Outcome) -> None:
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

    async def get_outcome(self, workspace: str, outcome_id: str) -> Outcome | None:
        row = (
            await self._conn.execute(
                sa.select(tables.outcomes).where(
                    tables.outcomes.c.workspace == workspace,
                    tables.outcomes.c.outcome_id == outcome_id,
                )
            )
        ).first()
        return _outcome_from_row(row) if row is not None else None

    # -- signal cursors ----------------------------------------------------------------

    async def get_cursor(self, workspace: str) -> str:
        """The last handled signal's cursor; empty when none was handled yet."""
        value = await self._conn.scalar(
            sa.select(tables.signal_cursors.c.cursor).where(
                tables.signal_cursors.c.workspace == workspace
            )
        )
        return value or ""

    async def save_cursor(self, workspace: str, cursor: str, now: datetime) -> None:
        result = await self._conn.execute(
            tables.signal_cursors.update()
            .where(tables.signal_cursors.c.workspace == workspace)
            .values(cursor=cursor, update_time=now)
        )
        if result.rowcount == 0:
            try:
                async with self._conn.begin_nested():
                    await self._conn.execute(
                        tables.signal_cursors.insert().values(
                            workspace=workspace, cursor=cursor, update_time=now
                        )
                    )
            except IntegrityError:
                # Another replica inserted it first. Cursors are opaque, so the
                # last writer wins; a cursor left behind only causes replays,
                # which the sends' idempotency keys absorb.
                await self._conn.execute(
                    tables.signal_cursors.update()
                    .where(tables.signal_cursors.c.workspace == workspace)
                    .values(cursor=cursor, update_time=now)
                )
