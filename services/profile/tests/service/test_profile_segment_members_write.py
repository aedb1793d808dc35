"""Segment members written in bulk (the ingest path): new pairs are added with their
enter time, pairs already members keep theirs (ON CONFLICT DO NOTHING); removed pairs
leave, the others stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rapport.profile.adapters.tables import segment_members
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.sqlstore import as_utc, create_engine, migrate
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

WS = "default"
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def check_members_written(engine: AsyncEngine) -> None:
    uow = unit_of_work_factory(engine)
    async with uow() as work:
        await work.segments.add_members(WS, [("s1", "c1"), ("s2", "c1")], T0)
        await work.commit()
    later = T0 + timedelta(days=1)
    async with uow() as work:
        # s1/c1 is a member already; the others are new (one of them twice).
        await work.segments.add_members(WS, [("s1", "c1"), ("s1", "c2"), ("s1", "c2")], later)
        await work.commit()
    async with uow(readonly=True) as work:
        assert await work.segments.memberships_of(WS, ["c1", "c2", "c3"]) == {
            "c1": {"s1", "s2"},
            "c2": {"s1"},
            "c3": set(),
        }
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                segment_members.c.segment_id,
                segment_members.c.customer_id,
                segment_members.c.enter_time,
            )
        )
        entered = {(s, c): as_utc(t) for s, c, t in rows}
    assert entered == {("s1", "c1"): T0, ("s2", "c1"): T0, ("s1", "c2"): later}
    async with uow() as work:
        # Exactly the pairs named leave (one not a member: nothing to remove).
        await work.segments.remove_members(WS, [("s1", "c1"), ("s2", "c2"), ("s1", "c2")])
        await work.commit()
    async with uow(readonly=True) as work:
        assert await work.segments.memberships_of(WS, ["c1", "c2"]) == {"c1": {"s2"}, "c2": set()}
        await work.segments.remove_members(WS, [])


async def test_members_are_added_once_with_their_first_enter_time(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    try:
        await migrate(engine, MIGRATIONS_DIR)
        await check_members_written(engine)
    finally:
        await engine.dispose()
