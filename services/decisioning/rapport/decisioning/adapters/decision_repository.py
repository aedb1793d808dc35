"""Storage of decisions and outcomes (SQLAlchemy Core), listed newest first."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.experiments import converts
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    Outcome,
    OutcomeType,
)
from rapport.sqlstore import as_utc, in_chunks
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .decision_json import (
    LEARNING_COLUMNS,
    LearningView,
    decision_from_row,
    decision_row,
    learning_view,
    returned_actions,
)
from .erased_customers import guard_values, share_customers, unless_erased

# A keyset position in a newest-first listing: (create_time, id) of the last row seen.
Position = tuple[datetime, str]
# Refused for an erased customer; the customer column is unless_erased's (each row's
# own value is the same).
_INSERT_DECISIONS = tables.decisions.insert().values(customer=unless_erased())


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
        value=row.value or 0.0,
    )


def _outcome_row(outcome: Outcome) -> dict[str, Any]:
    return {
        "workspace": outcome.workspace,
        "outcome_id": outcome.outcome_id,
        "decision_id": outcome.decision_id or None,
        "customer": outcome.customer,
        "action": outcome.action,
        "type": outcome.type.value,
        "channel": outcome.channel.value if outcome.channel else None,
        "outcome_time": outcome.outcome_time,
        "create_time": outcome.create_time,
        "value": outcome.value,
    }


def _before(time_column: Any, id_column: Any, position: Position) -> Any:
    time, id_ = position
    return sa.or_(time_column < time, sa.and_(time_column == time, id_column < id_))


class DecisionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, decision: Decision) -> None:
        await self.add_many([decision])

    async def add_many(self, decisions: Sequence[Decision]) -> None:
        """Insert decisions in one statement (executemany: one round trip for a batch),
        after their customers' locks in shared mode (one statement more on PostgreSQL).
        IntegrityError when a customer was erased (erased_customers.py): the transaction
        is then to be rolled back."""
        if not decisions:
            return
        await share_customers(self._conn, {(d.workspace, d.customer) for d in decisions})
        await self._conn.execute(
            _INSERT_DECISIONS,
            [decision_row(d) | guard_values(d.workspace, d.customer) for d in decisions],
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
        return decision_from_row(row) if row is not None else None

    async def learning_views(
        self, workspace: str, decision_ids: Collection[str]
    ) -> dict[str, LearningView]:
        """What learning reads of the decisions that exist among `decision_ids`, by id."""
        t = tables.decisions
        columns = [t.c[name] for name in LEARNING_COLUMNS]
        found: dict[str, LearningView] = {}
        for chunk in in_chunks(sorted(decision_ids)):
            rows = await self._conn.execute(
                sa.select(*columns).where(t.c.workspace == workspace, t.c.decision_id.in_(chunk))
            )
            found.update((row.decision_id, learning_view(row)) for row in rows)
        return found

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
        return [decision_from_row(row) for row in rows]

    async def latest_about(
        self,
        workspace: str,
        customer: str,
        action: str,
        since: datetime,
        until: datetime,
        experiments_about_action: Collection[str],
    ) -> Decision | None:
        """The customer's newest decision made in (since, until] a conversion of `action`
        may be credited to (experiments.converts: it returned the action, or assigned the
        customer to an arm of one of `experiments_about_action`)."""
        t = tables.decisions
        query = (
            sa.select(t)
            .where(
                t.c.workspace == workspace,
                t.c.customer == customer,
                t.c.create_time > since,
                t.c.create_time <= until,
            )
            .order_by(t.c.create_time.desc(), t.c.decision_id.desc())
        )
        for row in (await self._conn.execute(query)).all():
            decision = decision_from_row(row)
            if converts(decision, action, experiments_about_action):
                return decision
        return None

    async def experiment_reach(
        self, workspace: str, experiment_id: str
    ) -> dict[str, tuple[int, int]]:
        """Per arm: (distinct customers, decisions) of the experiment's decisions."""
        t = tables.decisions
        rows = await self._conn.execute(
            sa.select(t.c.arm_id, sa.func.count(sa.distinct(t.c.customer)), sa.func.count())
            .where(t.c.workspace == workspace, t.c.experiment_id == experiment_id)
            .group_by(t.c.arm_id)
        )
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    async def experiment_exposed(
        self, workspace: str, experiment_id: str, actions: Collection[str]
    ) -> dict[str, set[str]]:
        """Per arm: the customers to whom one of the experiment's decisions returned one
        of `actions` (action names; empty means any action)."""
        t = tables.decisions
        rows = await self._conn.execute(
            sa.select(t.c.arm_id, t.c.customer, t.c.actions).where(
                t.c.workspace == workspace,
                t.c.experiment_id == experiment_id,
                # A control arm returns none of the experiment's actions: not read.
                sa.or_(t.c.control.is_(None), t.c.control.is_(False)),
            )
        )
        wanted = frozenset(actions)
        found: dict[str, set[str]] = {}
        for row in rows:
            returned = returned_actions(workspace, row.actions)
            if returned and (not wanted or returned & wanted):
                found.setdefault(row.arm_id, set()).add(row.customer)
        return found

    async def delete_customer(self, workspace: str, customer: str) -> int:
        t = tables.decisions
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return result.rowcount or 0


class OutcomeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, outcome: Outcome) -> None:
        await self._conn.execute(tables.outcomes.insert().values(_outcome_row(outcome)))

    async def add_many(self, outcomes: Sequence[Outcome]) -> None:
        """Insert outcomes in one statement (executemany)."""
        if outcomes:
            await self._conn.execute(tables.outcomes.insert(), [_outcome_row(o) for o in outcomes])

    async def existing_ids(self, workspace: str, outcome_ids: Collection[str]) -> set[str]:
        """Which of `outcome_ids` are recorded already."""
        t = tables.outcomes
        found: set[str] = set()
        for chunk in in_chunks(sorted(outcome_ids)):
            rows = await self._conn.execute(
                sa.select(t.c.outcome_id).where(
                    t.c.workspace == workspace, t.c.outcome_id.in_(chunk)
                )
            )
            found.update(row.outcome_id for row in rows)
        return found

    async def earlier_types(
        self, workspace: str, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], set[OutcomeType]]:
        """The outcome types recorded so far for each (decision id, action); keys
        without any outcome are left out."""
        o = tables.outcomes
        known = {t.value for t in OutcomeType}
        found: dict[tuple[str, str], set[OutcomeType]] = {}
        for chunk in in_chunks(sorted({d for d, _ in keys})):
            rows = await self._conn.execute(
                sa.select(o.c.decision_id, o.c.action, o.c.type)
                .where(o.c.workspace == workspace, o.c.decision_id.in_(chunk))
                .distinct()
            )
            for row in rows:
                key = (row.decision_id, row.action)
                if key in keys and row.type in known:
                    found.setdefault(key, set()).add(OutcomeType(row.type))
        return found

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

    async def customer_page(
        self, workspace: str, customer: str, *, before: Position | None, limit: int
    ) -> list[Outcome]:
        """The customer's outcomes, newest recorded first; keyset after `before`."""
        t = tables.outcomes
        query = sa.select(t).where(t.c.workspace == workspace, t.c.customer == customer)
        if before is not None:
            query = query.where(_before(t.c.create_time, t.c.outcome_id, before))
        query = query.order_by(t.c.create_time.desc(), t.c.outcome_id.desc()).limit(limit)
        return [_outcome_from_row(row) for row in (await self._conn.execute(query)).all()]

    async def experiment_counts(
        self, workspace: str, experiment_id: str, actions: Collection[str]
    ) -> list[tuple[str, OutcomeType, int, int, float]]:
        """Per arm and outcome type of the experiment's decisions: (arm, type, distinct
        customers, outcomes, value), counting only outcomes of `actions` (action names;
        empty means every action)."""
        o, d = tables.outcomes, tables.decisions
        about_actions = o.c.action.in_(sorted(actions)) if actions else sa.true()
        rows = await self._conn.execute(
            sa.select(
                d.c.arm_id,
                o.c.type,
                sa.func.count(sa.distinct(o.c.customer)),
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(o.c.value), 0.0),
            )
            .select_from(o.join(d, sa.and_(o.c.decision_id == d.c.decision_id)))
            .where(
                o.c.workspace == workspace,
                d.c.workspace == workspace,
                d.c.experiment_id == experiment_id,
                about_actions,
            )
            .group_by(d.c.arm_id, o.c.type)
        )
        return [
            (row[0], OutcomeType(row[1]), int(row[2]), int(row[3]), float(row[4])) for row in rows
        ]

    async def experiment_converted(
        self, workspace: str, experiment_id: str, actions: Collection[str]
    ) -> dict[str, set[str]]:
        """Per arm: the customers with a conversion of one of `actions` (action names;
        empty means any action) credited to one of the experiment's decisions."""
        o, d = tables.outcomes, tables.decisions
        about_actions = o.c.action.in_(sorted(actions)) if actions else sa.true()
        rows = await self._conn.execute(
            sa.select(d.c.arm_id, o.c.customer)
            .select_from(o.join(d, o.c.decision_id == d.c.decision_id))
            .where(
                o.c.workspace == workspace,
                d.c.workspace == workspace,
                d.c.experiment_id == experiment_id,
                o.c.type == OutcomeType.CONVERSION.value,
                about_actions,
            )
            .distinct()
        )
        found: dict[str, set[str]] = {}
        for arm_id, customer in rows:
            found.setdefault(arm_id, set()).add(customer)
        return found

    async def delete_customer(self, workspace: str, customer: str) -> int:
        t = tables.outcomes
        result = await self._conn.execute(
            t.delete().where(t.c.workspace == workspace, t.c.customer == customer)
        )
        return result.rowcount or 0
