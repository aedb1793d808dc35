"""Claims on due time-window firings (SQLite): a claimed firing is not handed out again
until its lease ends; done or re-scheduled firings are not handed out at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rapport.decisioning.adapters import tables
from rapport.decisioning.adapters.schedule_repository import TriggerScheduleRepository
from rapport.sqlstore import create_engine

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def test_a_claim_holds_a_due_firing_for_its_lease(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'claims.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(tables.metadata.create_all)
            repo = TriggerScheduleRepository(conn)
            for i, at in enumerate([NOW - timedelta(hours=1), NOW, NOW + timedelta(hours=1)]):
                await repo.put("default", "t", f"c{i}", date(2027, 3, 31), at, NOW, "UTC")
            first = await repo.claim_due("default", NOW, 10, LEASE)
            assert [f.customer for f in first] == ["c0", "c1"]
            assert (
                await repo.claim_due("default", NOW + LEASE - timedelta(seconds=1), 10, LEASE) == []
            )
            await repo.mark_fired(first[0], NOW)
            # c1's lease ended (its replica stopped): another claim gets it, not the done c0.
            again = await repo.claim_due("default", NOW + LEASE, 10, LEASE)
            assert [f.customer for f in again] == ["c1"]
            # Re-scheduling (a new date) releases the claim.
            await repo.put("default", "t", "c1", date(2027, 4, 30), NOW, NOW, "UTC")
            moved = await repo.claim_due("default", NOW + LEASE, 10, LEASE)
            assert [(f.customer, f.anchor) for f in moved] == [("c1", date(2027, 4, 30))]
            assert await repo.claim_due("default", NOW, 10, LEASE) == []
            assert [f.customer for f in await repo.claim_due("other", NOW, 10, LEASE)] == []
    finally:
        await engine.dispose()
