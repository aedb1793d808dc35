"""Storage of groups and their members (traits: trait_repository.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.profile.domain.model import GroupMember
from rapport.sqlstore import as_utc
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import upsert
from .keyset import older_than
from .tables import group_members, groups


@dataclass(frozen=True)
class GroupRecord:
    group_key: str
    group_id: str
    member_count: int
    create_time: datetime
    update_time: datetime


class GroupRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def groups_of(self, workspace: str, keys: Collection[str]) -> dict[str, GroupRecord]:
        if not keys:
            return {}
        rows = await self._conn.execute(
            select(groups).where(
                groups.c.workspace == workspace, groups.c.group_key.in_(list(keys))
            )
        )
        return {row.group_key: _record(row) for row in rows}

    async def save_groups(self, workspace: str, records: Sequence[GroupRecord]) -> None:
        await upsert(
            self._conn,
            groups,
            [
                {
                    "workspace": workspace,
                    "group_key": r.group_key,
                    "group_id": r.group_id,
                    "member_count": r.member_count,
                    "create_time": as_utc(r.create_time),
                    "update_time": as_utc(r.update_time),
                }
                for r in records
            ],
            ("workspace", "group_key"),
        )

    async def list_groups(
        self, workspace: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[GroupRecord]:
        """Most recently updated first, strictly after the keyset position ``before``."""
        query = select(groups).where(groups.c.workspace == workspace)
        if before is not None:
            query = query.where(older_than(groups.c.update_time, groups.c.group_key, before))
        query = query.order_by(groups.c.update_time.desc(), groups.c.group_key.desc()).limit(limit)
        return [_record(row) for row in await self._conn.execute(query)]

    async def memberships_of(
        self, workspace: str, customer_ids: Collection[str]
    ) -> dict[str, dict[str, GroupMember]]:
        """customer -> group key -> membership (empty for customers in no group)."""
        found: dict[str, dict[str, GroupMember]] = {c: {} for c in customer_ids}
        if not customer_ids:
            return found
        rows = await self._conn.execute(
            select(group_members)
            .where(
                group_members.c.workspace == workspace,
                group_members.c.customer_id.in_(list(customer_ids)),
            )
            .order_by(group_members.c.join_time, group_members.c.group_key)
        )
        for row in rows:
            found[row.customer_id][row.group_key] = _member(row)
        return found

    async def add_members(self, workspace: str, rows: Sequence[tuple[str, GroupMember]]) -> None:
        """(group key, member) rows; an existing membership is replaced."""
        await upsert(
            self._conn,
            group_members,
            [
                {
                    "workspace": workspace,
                    "group_key": key,
                    "customer_id": m.customer_id,
                    "join_time": as_utc(m.join_time),
                    "source_message_id": m.source_message_id,
                }
                for key, m in rows
            ],
            ("workspace", "group_key", "customer_id"),
        )

    async def delete_memberships(self, workspace: str, customer_ids: Collection[str]) -> None:
        await self._conn.execute(
            delete(group_members).where(
                group_members.c.workspace == workspace,
                group_members.c.customer_id.in_(list(customer_ids)),
            )
        )

    async def list_members(
        self, workspace: str, key: str, *, after: str | None, limit: int
    ) -> list[GroupMember]:
        query = select(group_members).where(
            group_members.c.workspace == workspace, group_members.c.group_key == key
        )
        if after is not None:
            query = query.where(group_members.c.customer_id > after)
        query = query.order_by(group_members.c.customer_id).limit(limit)
        return [_member(row) for row in await self._conn.execute(query)]


def _record(row: Any) -> GroupRecord:
    return GroupRecord(
        row.group_key,
        row.group_id,
        int(row.member_count),
        as_utc(row.create_time),
        as_utc(row.update_time),
    )


def _member(row: Any) -> GroupMember:
    return GroupMember(
        row.customer_id,
        as_utc(row.join_time),
        row.source_message_id,
    )
