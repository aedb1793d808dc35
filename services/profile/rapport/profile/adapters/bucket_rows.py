"""Rows of computed_trait_buckets and Buckets: decoding many at once, encoding, and
the ON CONFLICT clause by which the database merges a bucket into the stored one."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any

from rapport.profile.domain.computed import Bucket
from rapport.sqlstore import as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import computed_trait_buckets

BucketKey = tuple[str, str, int]  # (customer id, trait id, day)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def bucket_from_row(row: Any) -> Bucket:
    return Bucket(
        count=int(row.count),
        sum=float(row.sum),
        min=row.min,
        max=row.max,
        first_time=_utc(row.first_time),
        first_value=row.first_value,
        last_time=_utc(row.last_time),
        last_value=row.last_value,
        values=dict(row.vals or {}),
    )


BUCKET_ROW_COLUMNS = (
    "workspace",
    "customer_id",
    "trait_id",
    "day",
    "count",
    "sum",
    "min",
    "max",
    "first_time",
    "first_value",
    "last_time",
    "last_value",
    "vals",
)

# A bucket's columns after its key, in that order (reads of many buckets).
BUCKET_COLUMNS = tuple(computed_trait_buckets.c[name] for name in BUCKET_ROW_COLUMNS[1:])


def keyed_buckets(
    rows: Iterable[Any], wanted: Collection[BucketKey] | None = None
) -> Iterator[tuple[str, str, int, Bucket]]:
    """(customer id, trait id, day, bucket) of rows selected as BUCKET_COLUMNS (only
    the ``wanted`` keys are decoded, when given)."""
    for customer_id, trait_id, day, count, sum_, min_, max_, ft, fv, lt, lv, vals in rows:
        day = int(day)
        if wanted is not None and (customer_id, trait_id, day) not in wanted:
            continue
        yield (
            customer_id,
            trait_id,
            day,
            Bucket(
                int(count),
                float(sum_),
                min_,
                max_,
                None if ft is None else as_utc(ft),
                fv,
                None if lt is None else as_utc(lt),
                lv,
                dict(vals) if vals else {},
            ),
        )


def merge_clause(conn: AsyncConnection) -> str:
    """ON CONFLICT: the stored bucket and the new one merged as Bucket.merge does (for
    buckets counting no values: the stored values stay)."""
    q = conn.dialect.identifier_preparer.quote
    t = q(computed_trait_buckets.name)

    def old(column: str) -> str:
        return f"{t}.{q(column)}"

    def new(column: str) -> str:
        return f"excluded.{q(column)}"

    def wins(column: str, op: str) -> str:
        fresh, held = new(column), old(column)
        return f"{fresh} IS NOT NULL AND ({held} IS NULL OR {fresh} {op} {held})"

    def pick(column: str, when: str) -> str:
        return f"{q(column)} = CASE WHEN {when} THEN {new(column)} ELSE {old(column)} END"

    sets = [
        f"{q('count')} = {old('count')} + {new('count')}",
        f"{q('sum')} = {old('sum')} + {new('sum')}",
        pick("min", wins("min", "<")),
        pick("max", wins("max", ">")),
        pick("first_time", wins("first_time", "<")),
        pick("first_value", wins("first_time", "<")),
        pick("last_time", wins("last_time", ">=")),
        pick("last_value", wins("last_time", ">=")),
    ]
    keys = ", ".join(q(c) for c in ("workspace", "customer_id", "trait_id", "day"))
    return f" ON CONFLICT ({keys}) DO UPDATE SET {', '.join(sets)}"


def bucket_row(workspace: str, key: BucketKey, bucket: Bucket) -> tuple[Any, ...]:
    """The row of a bucket, in BUCKET_ROW_COLUMNS order."""
    customer_id, trait_id, day = key
    return (
        workspace,
        customer_id,
        trait_id,
        day,
        bucket.count,
        bucket.sum,
        bucket.min,
        bucket.max,
        _utc(bucket.first_time),
        bucket.first_value,
        _utc(bucket.last_time),
        bucket.last_value,
        bucket.values or None,
    )
