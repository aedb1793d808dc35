"""Storage of experiments, conversion rules and the links from sent messages to decisions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.experiments import Arm, ConversionRule, Experiment, Strategy
from rapport.decisioning.domain.model import Channel
from rapport.sqlstore import as_utc, in_chunks
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables


def _time(value: Any) -> datetime | None:
    return as_utc(value) if value is not None else None


def _experiment_from_row(row: Any) -> Experiment:
    return Experiment(
        workspace=row.workspace,
        experiment_id=row.experiment_id,
        display_name=row.display_name,
        action_ids=tuple(row.action_ids),
        arms=tuple(
            Arm(arm_id, Strategy(strategy), weight) for arm_id, strategy, weight in row.arms
        ),
        start_time=_time(row.start_time),
        end_time=_time(row.end_time),
        create_time=as_utc(row.create_time),
    )


class ExperimentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, experiment: Experiment) -> None:
        await self._conn.execute(
            tables.experiments.insert().values(
                workspace=experiment.workspace,
                experiment_id=experiment.experiment_id,
                display_name=experiment.display_name,
                action_ids=list(experiment.action_ids),
                arms=[[a.arm_id, a.strategy.value, a.weight] for a in experiment.arms],
                start_time=experiment.start_time,
                end_time=experiment.end_time,
                create_time=experiment.create_time,
            )
        )

    async def replace(self, experiment: Experiment) -> None:
        t = tables.experiments
        await self._conn.execute(
            t.update()
            .where(
                t.c.workspace == experiment.workspace,
                t.c.experiment_id == experiment.experiment_id,
            )
            .values(
                display_name=experiment.display_name,
                action_ids=list(experiment.action_ids),
                arms=[[a.arm_id, a.strategy.value, a.weight] for a in experiment.arms],
                start_time=experiment.start_time,
                end_time=experiment.end_time,
            )
        )

    async def get(self, workspace: str, experiment_id: str) -> Experiment | None:
        t = tables.experiments
        row = (
            await self._conn.execute(
                sa.select(t).where(t.c.workspace == workspace, t.c.experiment_id == experiment_id)
            )
        ).first()
        return _experiment_from_row(row) if row is not None else None

    async def list_page(self, workspace: str, *, after: str | None, limit: int) -> list[Experiment]:
        t = tables.experiments
        query = sa.select(t).where(t.c.workspace == workspace)
        if after:
            query = query.where(t.c.experiment_id > after)
        rows = await self._conn.execute(query.order_by(t.c.experiment_id).limit(limit))
        return [_experiment_from_row(row) for row in rows]

    async def all(self, workspace: str) -> list[Experiment]:
        t = tables.experiments
        rows = await self._conn.execute(
            sa.select(t).where(t.c.workspace == workspace).order_by(t.c.experiment_id)
        )
        return [_experiment_from_row(row) for row in rows]

    async def delete(self, workspace: str, experiment_id: str) -> bool:
        t = tables.experiments
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.experiment_id == experiment_id)
        )
        return bool(result.rowcount)


def _rule_from_row(row: Any) -> ConversionRule:
    return ConversionRule(
        workspace=row.workspace,
        rule_id=row.rule_id,
        action_id=row.action_id,
        event_name=row.event_name,
        window=timedelta(seconds=row.window_seconds),
        create_time=as_utc(row.create_time),
    )


class ConversionRuleRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, rule: ConversionRule) -> None:
        await self._conn.execute(
            tables.conversion_rules.insert().values(
                workspace=rule.workspace,
                rule_id=rule.rule_id,
                action_id=rule.action_id,
                event_name=rule.event_name,
                window_seconds=int(rule.window.total_seconds()),
                create_time=rule.create_time,
            )
        )

    async def get(self, workspace: str, rule_id: str) -> ConversionRule | None:
        t = tables.conversion_rules
        row = (
            await self._conn.execute(
                sa.select(t).where(t.c.workspace == workspace, t.c.rule_id == rule_id)
            )
        ).first()
        return _rule_from_row(row) if row is not None else None

    async def list_page(
        self, workspace: str, *, after: str | None, limit: int
    ) -> list[ConversionRule]:
        t = tables.conversion_rules
        query = sa.select(t).where(t.c.workspace == workspace)
        if after:
            query = query.where(t.c.rule_id > after)
        rows = await self._conn.execute(query.order_by(t.c.rule_id).limit(limit))
        return [_rule_from_row(row) for row in rows]

    async def replace(self, rule: ConversionRule) -> None:
        t = tables.conversion_rules
        await self._conn.execute(
            t.update()
            .where(t.c.workspace == rule.workspace, t.c.rule_id == rule.rule_id)
            .values(
                action_id=rule.action_id,
                event_name=rule.event_name,
                window_seconds=int(rule.window.total_seconds()),
            )
        )

    async def for_event(self, workspace: str, event_name: str) -> list[ConversionRule]:
        t = tables.conversion_rules
        rows = await self._conn.execute(
            sa.select(t)
            .where(t.c.workspace == workspace, t.c.event_name == event_name)
            .order_by(t.c.rule_id)
        )
        return [_rule_from_row(row) for row in rows]

    async def for_events(
        self, workspace: str, event_names: Collection[str]
    ) -> dict[str, list[ConversionRule]]:
        """for_event of several names in one query: name -> rules (by id)."""
        t = tables.conversion_rules
        found: dict[str, list[ConversionRule]] = {}
        for chunk in in_chunks(sorted(event_names)):
            rows = await self._conn.execute(
                sa.select(t)
                .where(t.c.workspace == workspace, t.c.event_name.in_(chunk))
                .order_by(t.c.rule_id)
            )
            for row in rows:
                found.setdefault(row.event_name, []).append(_rule_from_row(row))
        return found

    async def delete(self, workspace: str, rule_id: str) -> bool:
        t = tables.conversion_rules
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.rule_id == rule_id)
        )
        return bool(result.rowcount)


@dataclass(frozen=True)
class SentMessage:
    """A message a trigger had delivery send, and the decision that caused it."""

    workspace: str
    message: str
    decision_id: str
    customer: str
    action: str
    channel: Channel
    create_time: datetime


def _sent_from_row(row: Any) -> SentMessage:
    return SentMessage(
        workspace=row.workspace,
        message=row.message,
        decision_id=row.decision_id,
        customer=row.customer,
        action=row.action,
        channel=Channel(row.channel),
        create_time=as_utc(row.create_time),
    )


class SentMessageRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add_if_absent(self, sent: SentMessage) -> None:
        if await self.get(sent.workspace, sent.message) is not None:
            return
        await self._conn.execute(
            tables.sent_messages.insert().values(
                workspace=sent.workspace,
                message=sent.message,
                decision_id=sent.decision_id,
                customer=sent.customer,
                action=sent.action,
                channel=sent.channel.value,
                create_time=sent.create_time,
            )
        )

    async def get(self, workspace: str, message: str) -> SentMessage | None:
        t = tables.sent_messages
        row = (
            await self._conn.execute(
                sa.select(t).where(t.c.workspace == workspace, t.c.message == message)
            )
        ).first()
        return _sent_from_row(row) if row is not None else None

    async def get_many(self, workspace: str, messages: Collection[str]) -> dict[str, SentMessage]:
        """The links of the messages that have one, by message."""
        t = tables.sent_messages
        found: dict[str, SentMessage] = {}
        for chunk in in_chunks(sorted(messages)):
            rows = await self._conn.execute(
                sa.select(t).where(t.c.workspace == workspace, t.c.message.in_(chunk))
            )
            found.update((row.message, _sent_from_row(row)) for row in rows)
        return found

    async def delete_customer(self, workspace: str, customer: str) -> int:
        t = tables.sent_messages
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return result.rowcount or 0
