"""Computed trait buckets merged by the database (ON CONFLICT, nothing read first) end
up as Bucket.merge makes them in Python: counts and sums add up, minima, maxima, first
and last values (ties: the later batch's last) as the merge keeps them, values kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rapport.profile.adapters.computed_repository import BucketKey
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.domain.computed import Bucket, Kind
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.sqlstore import create_engine, migrate
from sqlalchemy.ext.asyncio import AsyncEngine

WS = "default"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _bucket(kind: Kind, *observed: tuple[object, int]) -> Bucket:
    bucket = Bucket()
    for value, minutes in observed:
        bucket.add(kind, value, T0 + timedelta(minutes=minutes))
    return bucket


# Per key: (kind, first batch's observations, second batch's) as (value, minute).
CASES: dict[BucketKey, tuple[Kind, list[tuple[object, int]], list[tuple[object, int]]]] = {
    ("c1", "count", 1): (Kind.COUNT, [(None, 0), (None, 5)], [(None, 1)]),
    ("c1", "sum", 1): (Kind.SUM, [(2.5, 0), (4.0, 1)], [(-1.0, 2), (10.0, 3)]),
    ("c1", "max", 1): (Kind.MAX, [(2.5, 0)], [(1.0, 2)]),
    ("c2", "min", 1): (Kind.MIN, [(2.5, 0)], [(1.0, 2)]),
    ("c2", "first", 1): (Kind.FIRST, [("b", 10), ("c", 20)], [("a", 5), ("z", 20)]),
    ("c2", "last", 1): (Kind.LAST, [("b", 10), ("c", 20)], [("a", 5), ("z", 20)]),
    ("c3", "last", 1): (Kind.LAST, [({"x": 1}, 10)], [([1, 2], 9)]),
    ("c3", "first", 1): (Kind.FIRST, [({"x": 1}, 10)], [(True, 11)]),
    # Only in the second batch: inserted as it is.
    ("c4", "sum", 2): (Kind.SUM, [], [(3.0, 0)]),
}


async def check_database_merge(engine: AsyncEngine) -> None:
    uow = unit_of_work_factory(engine)
    first = {k: _bucket(kind, *a) for k, (kind, a, _) in CASES.items() if a}
    second = {k: _bucket(kind, *b) for k, (kind, _, b) in CASES.items()}
    # A bucket counting values, stored before: its values stay when the database adds.
    async with uow() as work:
        await work.computed.add_to_buckets(WS, first)
        await work.commit()
    async with uow() as work:
        merged = await work.computed.add_to_buckets(WS, second, stored={}, unread=list(second))
        await work.commit()
    assert merged == {}  # all merged by the database
    expected: dict[BucketKey, Bucket] = {}
    for key in CASES:
        bucket = Bucket()
        for part in (first.get(key), second[key]):
            if part is not None:
                bucket.merge(part)
        expected[key] = bucket
    async with uow(readonly=True) as work:
        stored = await work.computed.buckets_at(WS, list(CASES))
    assert stored == expected


async def test_the_database_merges_buckets_as_python_does(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    try:
        await migrate(engine, MIGRATIONS_DIR)
        await check_database_merge(engine)
    finally:
        await engine.dispose()


async def test_buckets_counting_values_are_read_and_merged(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    try:
        await migrate(engine, MIGRATIONS_DIR)
        uow = unit_of_work_factory(engine)
        key: BucketKey = ("c1", "skus", 1)
        async with uow() as work:
            await work.computed.add_to_buckets(
                WS, {key: _bucket(Kind.UNIQUE_COUNT, ("a", 0), ("b", 1))}
            )
            await work.commit()
        async with uow() as work:
            merged = await work.computed.add_to_buckets(
                WS, {key: _bucket(Kind.UNIQUE_COUNT, ("b", 2), ("c", 3))}, stored={}, unread=[key]
            )
            await work.commit()
        assert merged[key].values == {'"a"': 1, '"b"': 2, '"c"': 1}
        async with uow(readonly=True) as work:
            assert (await work.computed.buckets_at(WS, [key]))[key] == merged[key]
    finally:
        await engine.dispose()
