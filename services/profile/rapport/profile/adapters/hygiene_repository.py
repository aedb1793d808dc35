"""Storage for data hygiene and identity following: policies, identity cursors, and
the per-customer reads and deletes of export, erasure, retention and unmerges."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.profile.domain.hygiene import HygienePolicy, InactivityAction, InactivityRule
from rapport.profile.domain.model import ProfileSummary
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import and_, delete, exists, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import upsert
from .keyset import newer_than
from .tables import (
    customer_aliases,
    events,
    hygiene_policies,
    identity_cursors,
    message_ids,
    profiles,
    signals,
)


@dataclass(frozen=True)
class InactiveRow:
    customer_id: str
    last_seen_time: datetime
    last_activity_time: datetime | None


@dataclass(frozen=True)
class EventRow:
    """A stored event as a plain row (export, unmerge)."""

    seq: int
    event_id: str
    message_id: str
    customer_id: str
    type: str
    event_name: str
    timestamp: datetime
    received_at: datetime
    document: dict[str, Any]


class HygieneRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # -- policies ---------------------------------------------------------------

    async def policy(self, workspace: str) -> HygienePolicy | None:
        row = (
            await self._conn.execute(
                select(hygiene_policies).where(hygiene_policies.c.workspace == workspace)
            )
        ).one_or_none()
        return _policy(row) if row is not None else None

    async def policies(self) -> list[HygienePolicy]:
        rows = await self._conn.execute(
            select(hygiene_policies).order_by(hygiene_policies.c.workspace)
        )
        return [_policy(row) for row in rows]

    async def save_policy(self, policy: HygienePolicy) -> None:
        rule = policy.inactivity
        await upsert(
            self._conn,
            hygiene_policies,
            [
                {
                    "workspace": policy.workspace,
                    "default_retention_days": policy.default_retention_days,
                    "event_retention_days": dict(policy.event_retention_days),
                    "inactivity_event_name": rule.event_name if rule else None,
                    "inactivity_days": rule.inactive_days if rule else None,
                    "inactivity_action": rule.action.value if rule else None,
                    "update_time": as_utc(policy.update_time) if policy.update_time else None,
                }
            ],
            ("workspace",),
        )

    # -- identity cursors -------------------------------------------------------

    async def identity_cursor(self, workspace: str) -> str:
        """Identity's WatchChanges cursor after the last applied change ("" at first)."""
        found = await self._conn.scalar(
            select(identity_cursors.c.cursor).where(identity_cursors.c.workspace == workspace)
        )
        return str(found or "")

    async def lock_identity_follow(self, workspace: str) -> None:
        """Serialise the replicas following identity for ``workspace`` until commit
        (PostgreSQL; SQLite already serialises writers)."""
        await advisory_xact_locks(
            self._conn, [advisory_key("profile", "identity-follow", workspace)]
        )

    async def save_identity_cursor(self, workspace: str, cursor: str, now: datetime) -> None:
        """Record progress; never backwards (a replica that fell behind keeps quiet)."""
        if cursor_at_or_before(cursor, await self.identity_cursor(workspace)):
            return
        await upsert(
            self._conn,
            identity_cursors,
            [{"workspace": workspace, "cursor": cursor, "update_time": as_utc(now)}],
            ("workspace",),
        )

    # -- a customer's data ------------------------------------------------------

    async def events_of(
        self,
        workspace: str,
        customer_id: str,
        *,
        after: tuple[datetime, int] | None = None,
        limit: int | None = None,
    ) -> list[EventRow]:
        """The customer's events, oldest first (event time, then seq): all of them, or
        at most ``limit`` after the keyset position ``after``."""
        query = (
            select(events)
            .where(events.c.workspace == workspace, events.c.customer_id == customer_id)
            .order_by(events.c.timestamp, events.c.seq)
        )
        if after is not None:
            query = query.where(newer_than(events.c.timestamp, events.c.seq, after))
        if limit is not None:
            query = query.limit(limit)
        rows = await self._conn.execute(query)
        return [
            EventRow(
                int(row.seq),
                row.event_id,
                row.message_id,
                row.customer_id,
                row.type,
                row.event_name,
                as_utc(row.timestamp),
                as_utc(row.received_at),
                row.document,
            )
            for row in rows
        ]

    async def move_events(self, workspace: str, seqs: Collection[int], to_id: str) -> None:
        if seqs:
            await self._conn.execute(
                update(events)
                .where(events.c.workspace == workspace, events.c.seq.in_(list(seqs)))
                .values(customer_id=to_id)
            )

    async def merged_into(self, workspace: str, survivor_id: str) -> list[str]:
        rows = await self._conn.execute(
            select(customer_aliases.c.merged_customer_id)
            .where(
                customer_aliases.c.workspace == workspace,
                customer_aliases.c.survivor_customer_id == survivor_id,
            )
            .order_by(customer_aliases.c.merged_customer_id)
        )
        return [row[0] for row in rows]

    async def delete_customer_records(self, workspace: str, customer_id: str) -> int:
        """Delete the customer's events, message ids, signals and aliases; the number
        of events deleted. Traits, counters and groups: their own repositories."""
        deleted = await self._conn.execute(
            delete(events).where(
                events.c.workspace == workspace, events.c.customer_id == customer_id
            )
        )
        await self._conn.execute(
            delete(message_ids).where(
                message_ids.c.workspace == workspace, message_ids.c.customer_id == customer_id
            )
        )
        await self._conn.execute(
            delete(signals).where(
                signals.c.workspace == workspace, signals.c.customer_id == customer_id
            )
        )
        await self._conn.execute(
            delete(customer_aliases).where(
                customer_aliases.c.workspace == workspace,
                or_(
                    customer_aliases.c.survivor_customer_id == customer_id,
                    customer_aliases.c.merged_customer_id == customer_id,
                ),
            )
        )
        return deleted.rowcount or 0

    async def event_summaries(
        self, workspace: str, customer_ids: Collection[str]
    ) -> dict[str, ProfileSummary]:
        """Counters recomputed from the events stored now (customers without: absent)."""
        if not customer_ids:
            return {}
        rows = await self._conn.execute(
            select(
                events.c.customer_id,
                func.count(),
                func.min(events.c.timestamp),
                func.max(events.c.timestamp),
            )
            .where(events.c.workspace == workspace, events.c.customer_id.in_(list(customer_ids)))
            .group_by(events.c.customer_id)
        )
        return {row[0]: ProfileSummary(int(row[1]), as_utc(row[2]), as_utc(row[3])) for row in rows}

    async def replace_summaries(
        self, workspace: str, summaries: Mapping[str, ProfileSummary]
    ) -> None:
        await upsert(
            self._conn,
            profiles,
            [
                {
                    "workspace": workspace,
                    "customer_id": customer_id,
                    "event_count": s.event_count,
                    "first_seen_time": as_utc(s.first_seen_time),
                    "last_seen_time": as_utc(s.last_seen_time),
                }
                for customer_id, s in sorted(summaries.items())
            ],
            ("workspace", "customer_id"),
        )

    async def set_event_counts(self, workspace: str, counts: Mapping[str, int]) -> None:
        for customer_id, count in sorted(counts.items()):
            await self._conn.execute(
                update(profiles)
                .where(profiles.c.workspace == workspace, profiles.c.customer_id == customer_id)
                .values(event_count=count)
            )

    # -- retention --------------------------------------------------------------

    async def expired_events(
        self,
        workspace: str,
        named: Mapping[str, datetime],
        kept_names: Collection[str],
        default: datetime | None,
        limit: int,
    ) -> list[tuple[int, str]]:
        """Up to ``limit`` (seq, customer) of events past their retention: events of a
        ``named`` name before its cutoff, and, with a ``default`` cutoff, events of no
        name in ``kept_names`` (every name with an entry) before it."""
        conditions = [
            and_(_named(name), events.c.timestamp < as_utc(cutoff))
            for name, cutoff in named.items()
        ]
        if default is not None:
            listed = [_named(name) for name in kept_names]
            conditions.append(
                and_(events.c.timestamp < as_utc(default), not_(or_(*listed)) if listed else True)
            )
        if not conditions:
            return []
        rows = await self._conn.execute(
            select(events.c.seq, events.c.customer_id)
            .where(events.c.workspace == workspace, or_(*conditions))
            .order_by(events.c.seq)
            .limit(limit)
        )
        return [(int(row[0]), row[1]) for row in rows]

    async def delete_events(self, seqs: Collection[int]) -> int:
        if not seqs:
            return 0
        result = await self._conn.execute(delete(events).where(events.c.seq.in_(list(seqs))))
        return result.rowcount or 0

    # -- inactivity -------------------------------------------------------------

    async def inactive(
        self, workspace: str, rule: InactivityRule, now: datetime, after: str, limit: int
    ) -> list[InactiveRow]:
        """Customers after ``after`` (customer order) known since before the rule's cutoff
        with no event of its name since then."""
        activity = (
            select(func.max(events.c.timestamp))
            .where(
                events.c.workspace == profiles.c.workspace,
                events.c.customer_id == profiles.c.customer_id,
                events.c.event_name == rule.event_name,
            )
            .scalar_subquery()
        )
        rows = await self._conn.execute(
            select(profiles.c.customer_id, profiles.c.last_seen_time, activity.label("activity"))
            .where(
                *_matching(workspace, rule, now),
                profiles.c.customer_id > after,
            )
            .order_by(profiles.c.customer_id)
            .limit(limit)
        )
        return [
            InactiveRow(
                row.customer_id,
                as_utc(row.last_seen_time),
                as_utc(row.activity) if row.activity is not None else None,
            )
            for row in rows
        ]

    async def is_inactive(
        self, workspace: str, rule: InactivityRule, now: datetime, customer_id: str
    ) -> bool:
        """Whether the rule matches the customer now (as ``inactive`` would list it)."""
        found = await self._conn.scalar(
            select(profiles.c.customer_id).where(
                *_matching(workspace, rule, now), profiles.c.customer_id == customer_id
            )
        )
        return found is not None


def _matching(workspace: str, rule: InactivityRule, now: datetime) -> tuple[Any, ...]:
    """The conditions on ``profiles`` rows of the customers ``rule`` matches at ``now``."""
    cutoff = as_utc(rule.cutoff(now))
    recent = exists().where(
        events.c.workspace == profiles.c.workspace,
        events.c.customer_id == profiles.c.customer_id,
        events.c.event_name == rule.event_name,
        events.c.timestamp >= cutoff,
    )
    return (profiles.c.workspace == workspace, profiles.c.first_seen_time < cutoff, not_(recent))


def _named(name: str) -> Any:
    """Events whose retention name (domain.hygiene.retention_name) is ``name``."""
    return or_(events.c.event_name == name, and_(events.c.event_name == "", events.c.type == name))


def _policy(row: Any) -> HygienePolicy:
    rule = None
    if row.inactivity_event_name is not None and row.inactivity_action is not None:
        rule = InactivityRule(
            row.inactivity_event_name,
            int(row.inactivity_days),
            InactivityAction(row.inactivity_action),
        )
    retention = row.event_retention_days if isinstance(row.event_retention_days, dict) else {}
    return HygienePolicy(
        workspace=row.workspace,
        default_retention_days=int(row.default_retention_days),
        event_retention_days={str(k): int(v) for k, v in retention.items()},
        inactivity=rule,
        update_time=as_utc(row.update_time),
    )


def cursor_at_or_before(cursor: str, saved: str) -> bool:
    """Whether identity's ``cursor`` is not past ``saved`` (both decimal; "" is none)."""
    if not saved or not cursor.isdigit() or not saved.isdigit():
        return False
    return int(cursor) <= int(saved)
