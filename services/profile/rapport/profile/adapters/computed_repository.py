"""Storage of computed traits, their per-day buckets and their backfill jobs."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from rapport.profile.domain.computed import Bucket, ComputedTrait, Kind
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc, in_chunks
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bucket_rows import (
    BUCKET_COLUMNS,
    BUCKET_ROW_COLUMNS,
    BucketKey,
    bucket_from_row,
    bucket_row,
    keyed_buckets,
    merge_clause,
)
from .bulk import can_insert, insert_new, insert_rows, upsert_rows
from .tables import backfill_jobs, computed_trait_buckets, computed_traits

_CHUNK = 500

# The per-batch reads, built once (a statement built per call with a list of values
# costs hundreds of microseconds: every value is coerced); the lists go as expanding
# parameters, the SQL sent is the same.
_B = computed_trait_buckets
_BUCKETS_OF = select(*BUCKET_COLUMNS).where(
    _B.c.workspace == bindparam("workspace"),
    _B.c.customer_id.in_(bindparam("customers", expanding=True)),
    _B.c.day >= bindparam("since"),
)
_BUCKETS_OF_TRAITS = _BUCKETS_OF.where(_B.c.trait_id.in_(bindparam("traits", expanding=True)))
_BUCKETS_AT = select(*BUCKET_COLUMNS).where(
    _B.c.workspace == bindparam("workspace"),
    _B.c.customer_id.in_(bindparam("customers", expanding=True)),
    _B.c.trait_id.in_(bindparam("traits", expanding=True)),
    _B.c.day.between(bindparam("first"), bindparam("last")),
)


def _trait(row: Any) -> ComputedTrait:
    return ComputedTrait(
        workspace=row.workspace,
        trait_id=row.trait_id,
        key=row.key,
        kind=Kind(row.kind),
        window_days=int(row.window_days),
        event=row.event_name,
        filter=dict(row.filter or {}),
        property=row.property,
        create_time=as_utc(row.create_time),
        job_id=row.job_id,
    )


def _definitions_key(workspace: str) -> int:
    return advisory_key("profile", "computed-definitions", workspace)


class ComputedTraitRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # -- definitions -----------------------------------------------------------------

    async def share_definitions(self, workspace: str) -> None:
        """Held by a writer of events until commit (PostgreSQL; SQLite serialises writers):
        the definitions it reads, and so the traits it counts its events for, cannot
        change before it commits. Taken before any customer lock."""
        await advisory_xact_locks(self._conn, [_definitions_key(workspace)], shared=True)

    async def lock_definitions(self, workspace: str) -> None:
        """Held by a change of definitions until commit: it waits for every writer of
        events that read the old ones, and writers that start later read the new ones
        (so a new trait's backfill bound, the last stored event, splits the events
        exactly between the backfill and the writers counting them as they come)."""
        await advisory_xact_locks(self._conn, [_definitions_key(workspace)])

    async def key_taken(self, workspace: str, key: str) -> bool:
        found = await self._conn.scalar(
            select(computed_traits.c.trait_id).where(
                computed_traits.c.workspace == workspace, computed_traits.c.key == key
            )
        )
        return found is not None

    async def create(self, trait: ComputedTrait) -> bool:
        created = await insert_new(
            self._conn,
            computed_traits,
            [
                {
                    "workspace": trait.workspace,
                    "trait_id": trait.trait_id,
                    "key": trait.key,
                    "kind": trait.kind.value,
                    "window_days": trait.window_days,
                    "event_name": trait.event,
                    "filter": trait.filter,
                    "property": trait.property,
                    "create_time": as_utc(trait.create_time),
                    "job_id": trait.job_id,
                }
            ],
            ("workspace", "trait_id"),
            returning="trait_id",
        )
        return bool(created)

    async def get(self, workspace: str, trait_id: str) -> ComputedTrait | None:
        row = (
            await self._conn.execute(
                select(computed_traits).where(
                    computed_traits.c.workspace == workspace,
                    computed_traits.c.trait_id == trait_id,
                )
            )
        ).first()
        return None if row is None else _trait(row)

    async def list(self, workspace: str, *, after: str | None, limit: int) -> list[ComputedTrait]:
        query = select(computed_traits).where(computed_traits.c.workspace == workspace)
        if after is not None:
            query = query.where(computed_traits.c.trait_id > after)
        rows = await self._conn.execute(query.order_by(computed_traits.c.trait_id).limit(limit))
        return [_trait(row) for row in rows]

    async def all_of(self, workspace: str) -> list[ComputedTrait]:
        return await self.list(workspace, after=None, limit=10_000)

    async def customers_with(self, workspace: str, trait_id: str) -> list[str]:
        """The customers holding buckets of the trait."""
        table = computed_trait_buckets
        rows = await self._conn.execute(
            select(table.c.customer_id)
            .where(table.c.workspace == workspace, table.c.trait_id == trait_id)
            .distinct()
        )
        return list(rows.scalars())

    async def update(self, trait: ComputedTrait) -> bool:
        """Save the trait's definition and latest job; False when it is gone."""
        result = await self._conn.execute(
            update(computed_traits)
            .where(
                computed_traits.c.workspace == trait.workspace,
                computed_traits.c.trait_id == trait.trait_id,
            )
            .values(
                key=trait.key,
                kind=trait.kind.value,
                window_days=trait.window_days,
                event_name=trait.event,
                filter=trait.filter,
                property=trait.property,
                job_id=trait.job_id,
            )
        )
        return bool(result.rowcount)

    async def clear_buckets(self, workspace: str, trait_id: str) -> None:
        await self._conn.execute(
            delete(computed_trait_buckets).where(
                computed_trait_buckets.c.workspace == workspace,
                computed_trait_buckets.c.trait_id == trait_id,
            )
        )

    async def delete(self, workspace: str, trait_id: str) -> bool:
        for table in (computed_trait_buckets, backfill_jobs):
            await self._conn.execute(
                delete(table).where(table.c.workspace == workspace, table.c.trait_id == trait_id)
            )
        result = await self._conn.execute(
            delete(computed_traits).where(
                computed_traits.c.workspace == workspace, computed_traits.c.trait_id == trait_id
            )
        )
        return bool(result.rowcount)

    # -- buckets ---------------------------------------------------------------------

    async def buckets_of(
        self,
        workspace: str,
        customer_ids: Collection[str],
        *,
        since_day: int,
        trait_ids: Collection[str] | None = None,
    ) -> dict[str, dict[tuple[str, int], Bucket]]:
        """customer -> {(trait id, day): bucket} for days >= since_day (of ``trait_ids``
        only, when given)."""
        found: dict[str, dict[tuple[str, int], Bucket]] = {c: {} for c in customer_ids}
        ids = sorted(customer_ids)
        query = _BUCKETS_OF if trait_ids is None else _BUCKETS_OF_TRAITS
        params: dict[str, Any] = {"workspace": workspace, "since": since_day}
        if trait_ids is not None:
            params["traits"] = sorted(trait_ids)
        for chunk in in_chunks(ids, _CHUNK):
            params["customers"] = chunk
            rows = await self._conn.execute(query, params)
            for customer_id, trait_id, day, bucket in keyed_buckets(rows):
                found[customer_id][(trait_id, day)] = bucket
        return found

    async def buckets_between(
        self, workspace: str, after: str | None, last: str, *, since_day: int
    ) -> dict[str, dict[tuple[str, int], Bucket]]:
        table = computed_trait_buckets
        query = select(*BUCKET_COLUMNS).where(
            table.c.workspace == workspace, table.c.customer_id <= last, table.c.day >= since_day
        )
        if after is not None:
            query = query.where(table.c.customer_id > after)
        found: dict[str, dict[tuple[str, int], Bucket]] = {}
        rows = await self._conn.execute(query)
        for customer_id, trait_id, day, bucket in keyed_buckets(rows):
            found.setdefault(customer_id, {})[(trait_id, day)] = bucket
        return found

    async def add_to_buckets(
        self,
        workspace: str,
        added: Mapping[BucketKey, Bucket],
        *,
        stored: Mapping[BucketKey, Bucket] | None = None,
        unread: Collection[BucketKey] = (),
    ) -> dict[BucketKey, Bucket]:
        """Merge ``added`` into the stored buckets (one read, unless ``stored`` holds
        every stored bucket of those keys but ``unread``; one multi-row upsert); the
        merged buckets. Of the ``unread`` keys, those whose buckets count no values are
        merged by the database itself (one more upsert, nothing read; left out of the
        answer), the others read first."""
        if not added:
            return {}
        in_database: list[BucketKey] = []
        if stored is None:
            stored = await self.buckets_at(workspace, added)
        elif unread:
            if can_insert(self._conn, computed_trait_buckets, BUCKET_ROW_COLUMNS):
                in_database = sorted(k for k in unread if not added[k].values)
            kept = set(in_database)
            to_read = [k for k in unread if k not in kept]
            stored = {**stored, **await self.buckets_at(workspace, to_read)}
        skipped = set(in_database)
        rows_out = []
        merged: dict[BucketKey, Bucket] = {}
        for key in sorted(added):
            if key in skipped:
                continue
            bucket = Bucket()
            if (held := stored.get(key)) is not None:
                bucket.merge(held)
            bucket.merge(added[key])
            merged[key] = bucket
            rows_out.append(bucket_row(workspace, key, bucket))
        await upsert_rows(
            self._conn,
            computed_trait_buckets,
            BUCKET_ROW_COLUMNS,
            rows_out,
            ("workspace", "customer_id", "trait_id", "day"),
        )
        if in_database:
            await insert_rows(
                self._conn,
                computed_trait_buckets,
                BUCKET_ROW_COLUMNS,
                [bucket_row(workspace, key, added[key]) for key in in_database],
                tail=merge_clause(self._conn),
            )
        return merged

    async def buckets_at(
        self, workspace: str, keys: Collection[BucketKey]
    ) -> dict[BucketKey, Bucket]:
        """The stored buckets of these (customer id, trait id, day) keys."""
        if not keys:
            return {}
        wanted = set(keys)
        customers = sorted({c for c, _, _ in wanted})
        trait_ids = sorted({t for _, t, _ in wanted})
        days = [d for _, _, d in wanted]
        stored: dict[BucketKey, Bucket] = {}
        # Plain IN lists and a day range (the primary key's order), then only the keys
        # asked for are decoded.
        params: dict[str, Any] = {
            "workspace": workspace,
            "traits": trait_ids,
            "first": min(days),
            "last": max(days),
        }
        for chunk in in_chunks(customers, _CHUNK):
            params["customers"] = chunk
            rows = await self._conn.execute(_BUCKETS_AT, params)
            for customer_id, trait_id, day, bucket in keyed_buckets(rows, wanted):
                stored[(customer_id, trait_id, day)] = bucket
        return stored

    async def move_buckets(self, workspace: str, merged: str, survivor: str) -> None:
        """A merged customer's buckets join the survivor's."""
        table = computed_trait_buckets
        rows = await self._conn.execute(
            select(table).where(table.c.workspace == workspace, table.c.customer_id == merged)
        )
        theirs = {(survivor, row.trait_id, int(row.day)): bucket_from_row(row) for row in rows}
        if not theirs:
            return
        await self._conn.execute(
            delete(table).where(table.c.workspace == workspace, table.c.customer_id == merged)
        )
        await self.add_to_buckets(workspace, theirs)

    async def forget_customers(self, workspace: str, customer_ids: Collection[str]) -> None:
        ids = sorted(customer_ids)
        table = computed_trait_buckets
        for chunk in in_chunks(ids, _CHUNK):
            await self._conn.execute(
                delete(table).where(
                    table.c.workspace == workspace,
                    table.c.customer_id.in_(chunk),
                )
            )

    async def prune(self, workspace: str, trait_id: str, before_day: int) -> int:
        table = computed_trait_buckets
        result = await self._conn.execute(
            delete(table).where(
                table.c.workspace == workspace,
                table.c.trait_id == trait_id,
                table.c.day < before_day,
            )
        )
        return int(result.rowcount or 0)
