"""Ingestion reads the segment memberships of every customer a batch touches: SQLite
answers that read from an index alone (the segment id is in it), never visiting the
table's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import event, text

WS = "default"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_memberships_of_customers_read_from_a_covering_index(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM segment_members" in statement:
            seen.append((statement, params))

    try:
        await migrate(engine, MIGRATIONS_DIR)
        uow = unit_of_work_factory(engine)
        async with uow() as work:
            pairs = [(f"s{n}", f"c{m}") for n in range(5) for m in range(50)]
            await work.segments.add_members(WS, pairs, T0)
            await work.commit()
        event.listen(engine.sync_engine, "before_cursor_execute", keep)
        async with uow(readonly=True) as work:
            found = await work.segments.memberships_of(WS, ["c1", "c7", "nobody"])
        event.remove(engine.sync_engine, "before_cursor_execute", keep)
        assert found == {
            "c1": {f"s{n}" for n in range(5)},
            "c7": {f"s{n}" for n in range(5)},
            "nobody": set(),
        }
        [(statement, params)] = seen
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)).all()
            indexes = (await conn.execute(text("PRAGMA index_list(segment_members)"))).all()
    finally:
        await engine.dispose()
    details = " | ".join(row[-1] for row in plan)
    assert "USING COVERING INDEX ix_segment_members_customer_segment" in details, details
    # The index on (workspace, customer_id) it replaces is gone.
    assert "ix_segment_members_customer" not in {row[1] for row in indexes}
