"""Customer aliases (identity's merges) and the cursor of following identity.

A customer's group: its survivor (the customer at the end of its alias chain) and
every customer aliased to that survivor, directly or through another. Every answer
of a customer is the answer of its group's entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from rapport.consent.adapters.tables import consent_aliases as aliases
from rapport.consent.adapters.tables import identity_cursors as cursors
from rapport.sqlstore import advisory_key, advisory_xact_locks
from sqlalchemy.ext.asyncio import AsyncConnection

# Alias chains are short (a merge repoints nothing); this bounds a corrupted one.
_MAX_DEPTH = 32


class Group(tuple[str, ...]):
    """The customers answering together: the survivor first, then the others sorted."""

    @property
    def survivor(self) -> str:
        return self[0]


class AliasRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def groups(
        self, workspace: str, customer_ids: Collection[str], *, at: datetime | None = None
    ) -> dict[str, Group]:
        """The group of each customer (one query when none of them has an alias).

        With `at`, the groups as consent held them then (see `groups_at`).
        """
        found = await self.groups_at(workspace, [(c, at) for c in customer_ids])
        return {c: found[(c, at)] for c in customer_ids}

    async def groups_at(
        self, workspace: str, checks: Collection[tuple[str, datetime | None]]
    ) -> dict[tuple[str, datetime | None], Group]:
        """The group of each (customer, moment): now for None, else as consent held it
        then. An alias made after the moment (a later merge) is left out; one removed
        since (an unmerge) is no longer known, so that merge counts at no moment.

        One traversal of every alias reachable now, the moments applied in memory.
        """
        aliased: dict[str, tuple[str, datetime]] = {}
        seen: set[str] = set()
        frontier = {customer_id for customer_id, _ in checks}
        for _ in range(_MAX_DEPTH):
            frontier -= seen
            if not frontier:
                break
            seen |= frontier
            ids = sorted(frontier)
            rows = await self._connection.execute(
                sa.select(
                    aliases.c.customer_id, aliases.c.survivor_id, aliases.c.create_time
                ).where(
                    aliases.c.workspace == workspace,
                    sa.or_(aliases.c.customer_id.in_(ids), aliases.c.survivor_id.in_(ids)),
                )
            )
            frontier = set()
            for customer_id, survivor_id, create_time in rows:
                aliased[customer_id] = (survivor_id, _utc(create_time))
                frontier |= {customer_id, survivor_id}
        by_moment: dict[datetime | None, tuple[dict[str, str], dict[str, set[str]]]] = {}
        for at in {at for _, at in checks}:
            parent: dict[str, str] = {}
            children: dict[str, set[str]] = defaultdict(set)
            for customer_id, (survivor_id, create_time) in aliased.items():
                if at is None or create_time <= at:
                    parent[customer_id] = survivor_id
                    children[survivor_id].add(customer_id)
            by_moment[at] = (parent, children)
        return {(c, at): _group(c, *by_moment[at]) for c, at in checks}

    async def group(self, workspace: str, customer_id: str, *, at: datetime | None = None) -> Group:
        return (await self.groups(workspace, [customer_id], at=at))[customer_id]

    async def merge(
        self, workspace: str, merged: Sequence[str], survivor: str, now: datetime
    ) -> None:
        """`merged` answer as `survivor` from now on; the survivor is live (an alias of
        its own is stale)."""
        others = sorted({m for m in merged if m != survivor})
        await self.forget(workspace, [survivor, *others])
        if others:
            await self._connection.execute(
                sa.insert(aliases),
                [
                    {
                        "workspace": workspace,
                        "customer_id": m,
                        "survivor_id": survivor,
                        "create_time": now.astimezone(UTC),
                    }
                    for m in others
                ],
            )

    async def forget(self, workspace: str, customer_ids: Sequence[str]) -> None:
        """The customers answer for themselves again (those aliased to them follow them)."""
        await self._connection.execute(
            sa.delete(aliases).where(
                aliases.c.workspace == workspace, aliases.c.customer_id.in_(sorted(customer_ids))
            )
        )

    async def erase_customers(self, workspace: str, customer_ids: Sequence[str]) -> None:
        """Forget every alias from or to these customers (a data subject's erasure)."""
        ids = sorted(customer_ids)
        await self._connection.execute(
            sa.delete(aliases).where(
                aliases.c.workspace == workspace,
                sa.or_(aliases.c.customer_id.in_(ids), aliases.c.survivor_id.in_(ids)),
            )
        )

    async def lock_follow(self, workspace: str) -> None:
        """One replica at a time applies a workspace's identity changes (PostgreSQL)."""
        key = advisory_key("consent", "identity-follow", workspace)
        await advisory_xact_locks(self._connection, [key])

    async def identity_cursor(self, workspace: str) -> str:
        value = await self._connection.scalar(
            sa.select(cursors.c.cursor).where(cursors.c.workspace == workspace)
        )
        return value or ""

    async def save_identity_cursor(self, workspace: str, cursor: str, now: datetime) -> None:
        values = {"cursor": cursor, "update_time": now.astimezone(UTC)}
        result = await self._connection.execute(
            sa.update(cursors).where(cursors.c.workspace == workspace).values(**values)
        )
        if result.rowcount == 0:
            await self._connection.execute(sa.insert(cursors).values(workspace=workspace, **values))


def _utc(value: datetime) -> datetime:
    # SQLite returns the stored UTC time without its zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _group(customer_id: str, parent: dict[str, str], children: dict[str, set[str]]) -> Group:
    survivor, steps = customer_id, 0
    while survivor in parent and steps < _MAX_DEPTH:
        survivor, steps = parent[survivor], steps + 1
    members: set[str] = set()
    frontier = [survivor]
    while frontier:
        current = frontier.pop()
        for child in children.get(current, ()):
            if child not in members and child != survivor:
                members.add(child)
                frontier.append(child)
    return Group((survivor, *sorted(members)))


def cursor_at_or_before(cursor: str, saved: str) -> bool:
    """Whether identity's ``cursor`` is not past ``saved`` (both decimal; "" is none)."""
    if not saved or not cursor.isdigit() or not saved.isdigit():
        return False
    return int(cursor) <= int(saved)
