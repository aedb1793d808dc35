"""Storage of segments, their members, customers' life stages and the life stage model."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from rapport.profile.domain.segments import Segment
from rapport.sqlstore import as_utc
from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .batch_reads import MEMBERSHIPS_OF, STATES_OF, TRAIT_VALUES_OF
from .bulk import (
    can_delete,
    can_insert,
    delete_rows,
    dialect_insert,
    ignore_conflicts_clause,
    insert_new,
    insert_rows,
    upsert,
)
from .tables import (
    customer_states,
    profiles,
    segment_members,
    segments,
    traits,
)

# Rows per statement when deleting many (customer) keys at once.
_DELETE_CHUNK = 500
_MEMBER_COLUMNS = ("workspace", "segment_id", "customer_id", "enter_time")
_MEMBER_KEY = ("workspace", "segment_id", "customer_id")


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _segment(row: Any, member_count: int = 0) -> Segment:
    return Segment(
        workspace=row.workspace,
        segment_id=row.segment_id,
        display_name=row.display_name,
        rule=row.rule,
        time_dependent=bool(row.time_dependent),
        create_time=as_utc(row.create_time),
        last_evaluation_time=_utc(row.last_evaluation_time),
        next_evaluation_time=_utc(row.next_evaluation_time),
        member_count=member_count,
    )


class SegmentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # -- segments ------------------------------------------------------------------

    async def create(self, segment: Segment) -> bool:
        """False when the id is taken."""
        created = await insert_new(
            self._conn,
            segments,
            [
                {
                    "workspace": segment.workspace,
                    "segment_id": segment.segment_id,
                    "display_name": segment.display_name,
                    "rule": segment.rule,
                    "time_dependent": segment.time_dependent,
                    "create_time": as_utc(segment.create_time),
                    "last_evaluation_time": _utc(segment.last_evaluation_time),
                    "next_evaluation_time": _utc(segment.next_evaluation_time),
                }
            ],
            ("workspace", "segment_id"),
            returning="segment_id",
        )
        return bool(created)

    async def get(self, workspace: str, segment_id: str) -> Segment | None:
        row = (
            await self._conn.execute(
                select(segments).where(
                    segments.c.workspace == workspace, segments.c.segment_id == segment_id
                )
            )
        ).first()
        if row is None:
            return None
        return _segment(row, await self.member_count(workspace, segment_id))

    async def member_count(self, workspace: str, segment_id: str) -> int:
        count = await self._conn.scalar(
            select(func.count()).where(
                segment_members.c.workspace == workspace,
                segment_members.c.segment_id == segment_id,
            )
        )
        return int(count or 0)

    async def list(self, workspace: str, *, after: str | None, limit: int) -> list[Segment]:
        query = select(segments).where(segments.c.workspace == workspace)
        if after is not None:
            query = query.where(segments.c.segment_id > after)
        rows = (await self._conn.execute(query.order_by(segments.c.segment_id).limit(limit))).all()
        found = []
        for row in rows:
            found.append(_segment(row, await self.member_count(workspace, row.segment_id)))
        return found

    async def all_of(self, workspace: str) -> list[Segment]:
        """Every segment of the workspace (without member counts), in id order."""
        rows = await self._conn.execute(
            select(segments)
            .where(segments.c.workspace == workspace)
            .order_by(segments.c.segment_id)
        )
        return [_segment(row) for row in rows]

    async def update(self, segment: Segment) -> bool:
        """Save the segment's display name, rule and schedule; False when it is gone."""
        result = await self._conn.execute(
            update(segments)
            .where(
                segments.c.workspace == segment.workspace,
                segments.c.segment_id == segment.segment_id,
            )
            .values(
                display_name=segment.display_name,
                rule=segment.rule,
                time_dependent=segment.time_dependent,
                next_evaluation_time=_utc(segment.next_evaluation_time),
            )
        )
        return bool(result.rowcount)

    async def delete(self, workspace: str, segment_id: str) -> bool:
        await self._conn.execute(
            delete(segment_members).where(
                segment_members.c.workspace == workspace,
                segment_members.c.segment_id == segment_id,
            )
        )
        result = await self._conn.execute(
            delete(segments).where(
                segments.c.workspace == workspace, segments.c.segment_id == segment_id
            )
        )
        return bool(result.rowcount)

    async def due(self, now: datetime, limit: int) -> list[Segment]:
        """Segments (of any workspace) whose next evaluation time has come, oldest first."""
        rows = await self._conn.execute(
            select(segments)
            .where(segments.c.next_evaluation_time <= as_utc(now))
            .order_by(segments.c.next_evaluation_time)
            .limit(limit)
        )
        return [_segment(row) for row in rows]

    async def next_due_time(self) -> datetime | None:
        moment = await self._conn.scalar(select(func.min(segments.c.next_evaluation_time)))
        return _utc(moment)

    async def mark_evaluated(
        self,
        workspace: str,
        segment_id: str,
        *,
        rule: str,
        evaluated: datetime,
        next_time: datetime | None,
    ) -> None:
        """Record a full evaluation (unless the segment was replaced meanwhile)."""
        await self._conn.execute(
            update(segments)
            .where(
                segments.c.workspace == workspace,
                segments.c.segment_id == segment_id,
                segments.c.rule == rule,
            )
            .values(last_evaluation_time=as_utc(evaluated), next_evaluation_time=_utc(next_time))
        )

    async def claim(
        self,
        workspace: str,
        segment_id: str,
        *,
        rule: str,
        due_by: datetime | None,
        until: datetime,
    ) -> bool:
        """Hold the segment for evaluation until ``until`` (its next evaluation time
        meanwhile): only if it still has this rule and, with ``due_by``, is due by then.
        False when another replica holds it, or it was deleted or replaced."""
        query = update(segments).where(
            segments.c.workspace == workspace,
            segments.c.segment_id == segment_id,
            segments.c.rule == rule,
        )
        if due_by is not None:
            query = query.where(segments.c.next_evaluation_time <= as_utc(due_by))
        result = await self._conn.execute(query.values(next_evaluation_time=as_utc(until)))
        return bool(result.rowcount)

    # -- members -------------------------------------------------------------------

    async def memberships_of(
        self, workspace: str, customer_ids: Collection[str]
    ) -> dict[str, set[str]]:
        """customer -> the segment ids it belongs to (an empty set for none)."""
        found: dict[str, set[str]] = {c: set() for c in customer_ids}
        if not customer_ids:
            return found
        rows = await self._conn.execute(
            MEMBERSHIPS_OF, {"workspace": workspace, "customers": list(customer_ids)}
        )
        for customer_id, segment_id in rows:
            found[customer_id].add(segment_id)
        return found

    async def members_between(
        self, workspace: str, segment_id: str, after: str | None, last: str
    ) -> set[str]:
        """The members with ``after < customer_id <= last``."""
        query = select(segment_members.c.customer_id).where(
            segment_members.c.workspace == workspace,
            segment_members.c.segment_id == segment_id,
            segment_members.c.customer_id <= last,
        )
        if after is not None:
            query = query.where(segment_members.c.customer_id > after)
        return set((await self._conn.execute(query)).scalars())

    async def members_page(
        self, workspace: str, segment_id: str, *, after: str | None, limit: int
    ) -> list[tuple[str, datetime]]:
        query = select(segment_members.c.customer_id, segment_members.c.enter_time).where(
            segment_members.c.workspace == workspace, segment_members.c.segment_id == segment_id
        )
        if after is not None:
            query = query.where(segment_members.c.customer_id > after)
        rows = await self._conn.execute(query.order_by(segment_members.c.customer_id).limit(limit))
        return [(row.customer_id, as_utc(row.enter_time)) for row in rows]

    async def add_members(
        self, workspace: str, rows: Sequence[tuple[str, str]], enter_time: datetime
    ) -> None:
        """(segment id, customer id) pairs; pairs already members are left as they are."""
        if not rows:
            return
        moment = as_utc(enter_time)
        if can_insert(self._conn, segment_members, _MEMBER_COLUMNS):
            # The ingest hot path: rows straight to the driver (bulk.insert_rows).
            await insert_rows(
                self._conn,
                segment_members,
                _MEMBER_COLUMNS,
                [(workspace, s, c, moment) for s, c in rows],
                tail=ignore_conflicts_clause(self._conn, segment_members, _MEMBER_KEY),
            )
            return
        statement = dialect_insert(self._conn, segment_members).on_conflict_do_nothing(
            index_elements=list(_MEMBER_KEY)
        )
        await self._conn.execute(
            statement,
            [
                {"workspace": workspace, "segment_id": s, "customer_id": c, "enter_time": moment}
                for s, c in rows
            ],
        )

    async def remove_members(self, workspace: str, rows: Sequence[tuple[str, str]]) -> None:
        """(segment id, customer id) pairs."""
        if can_delete(self._conn, segment_members, _MEMBER_KEY):
            keys = [(workspace, s, c) for s, c in rows]
            await delete_rows(self._conn, segment_members, _MEMBER_KEY, keys)
            return
        pairs = list(rows)
        for start in range(0, len(pairs), _DELETE_CHUNK):
            chunk = pairs[start : start + _DELETE_CHUNK]
            await self._conn.execute(
                delete(segment_members).where(
                    segment_members.c.workspace == workspace,
                    tuple_(segment_members.c.segment_id, segment_members.c.customer_id).in_(chunk),
                )
            )

    async def forget_customers(self, workspace: str, customer_ids: Collection[str]) -> None:
        """A customer merged away (or erased): its memberships and state go."""
        ids = list(customer_ids)
        for start in range(0, len(ids), _DELETE_CHUNK):
            chunk = ids[start : start + _DELETE_CHUNK]
            for table in (segment_members, customer_states):
                await self._conn.execute(
                    delete(table).where(
                        table.c.workspace == workspace, table.c.customer_id.in_(chunk)
                    )
                )

    # -- customers, for rules ------------------------------------------------------

    async def customers_after(self, workspace: str, after: str | None, limit: int) -> list[str]:
        """Customer ids with a profile, in id order, after ``after``."""
        query = select(profiles.c.customer_id).where(profiles.c.workspace == workspace)
        if after is not None:
            query = query.where(profiles.c.customer_id > after)
        rows = await self._conn.execute(query.order_by(profiles.c.customer_id).limit(limit))
        return list(rows.scalars())

    async def trait_values_between(
        self, workspace: str, after: str | None, last: str, keys: Iterable[str] | None
    ) -> dict[str, dict[str, Any]]:
        """customer -> {key: value} of the visible traits of customers in (after, last];
        only ``keys`` when given."""
        query = select(traits.c.customer_id, traits.c.key, traits.c.value).where(
            traits.c.workspace == workspace,
            traits.c.customer_id <= last,
            traits.c.removed.is_(None),
        )
        if after is not None:
            query = query.where(traits.c.customer_id > after)
        if keys is not None:
            wanted = list(keys)
            if not wanted:
                return {}
            query = query.where(traits.c.key.in_(wanted))
        found: dict[str, dict[str, Any]] = {}
        for customer_id, key, value in await self._conn.execute(query):
            found.setdefault(customer_id, {})[key] = value
        return found

    async def trait_values_of(
        self, workspace: str, customer_ids: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        """customer -> {key: value} of its visible traits (an empty dict for none)."""
        found: dict[str, dict[str, Any]] = {c: {} for c in customer_ids}
        if not customer_ids:
            return found
        rows = await self._conn.execute(
            TRAIT_VALUES_OF, {"workspace": workspace, "customers": list(customer_ids)}
        )
        for customer_id, key, value in rows:
            found[customer_id][key] = value
        return found

    # -- life stages ---------------------------------------------------------------

    async def states_of(self, workspace: str, customer_ids: Collection[str]) -> dict[str, str]:
        """customer -> life stage ('' for none), for the customers rules have seen."""
        if not customer_ids:
            return {}
        rows = await self._conn.execute(
            STATES_OF, {"workspace": workspace, "customers": list(customer_ids)}
        )
        return {customer_id: stage or "" for customer_id, stage in rows}

    async def states_between(self, workspace: str, after: str | None, last: str) -> dict[str, str]:
        query = select(customer_states.c.customer_id, customer_states.c.life_stage).where(
            customer_states.c.workspace == workspace, customer_states.c.customer_id <= last
        )
        if after is not None:
            query = query.where(customer_states.c.customer_id > after)
        return {customer_id: stage or "" for customer_id, stage in await self._conn.execute(query)}

    async def save_states(
        self, workspace: str, stages: dict[str, str], update_time: datetime
    ) -> None:
        moment = as_utc(update_time)
        await upsert(
            self._conn,
            customer_states,
            [
                {
                    "workspace": workspace,
                    "customer_id": customer_id,
                    "life_stage": stage or None,
                    "update_time": moment,
                }
                for customer_id, stage in sorted(stages.items())
            ],
            ("workspace", "customer_id"),
        )
