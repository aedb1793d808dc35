"""ListProfiles with `has_trait` finds the holders of a key through an index by (workspace,
key, customer): the listing of 1M profiles for one trait never scans every trait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rapport.profile.adapters.profile_listing import ProfileListing
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import event, text


async def test_holders_of_a_trait_are_read_through_the_key_index(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM profiles" in statement:
            seen.append((statement, params))

    try:
        await migrate(engine, MIGRATIONS_DIR)
        async with engine.begin() as conn:
            for n in range(200):
                await conn.execute(
                    text(
                        "INSERT INTO profiles VALUES ('default', :c, 1, "
                        "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                    ),
                    {"c": f"c{n:03d}"},
                )
                for key in ("plan", "tz", *(["renewal"] if n % 10 == 0 else [])):
                    await conn.execute(
                        text(
                            "INSERT INTO traits (workspace, customer_id, key, value, "
                            "source_message_id, update_time, received_at, batch_index) "
                            "VALUES ('default', :c, :k, '\"x\"', 'm', '2026-01-01 00:00:00', "
                            "'2026-01-01 00:00:00', 0)"
                        ),
                        {"c": f"c{n:03d}", "k": key},
                    )
        event.listen(engine.sync_engine, "before_cursor_execute", keep)
        async with engine.connect() as conn:
            found = await ProfileListing(conn).profiles_after("default", "c050", 3, "renewal")
        event.remove(engine.sync_engine, "before_cursor_execute", keep)
        assert [p.customer_id for p in found] == ["c060", "c070", "c080"]
        [(statement, params)] = seen
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)).all()
    finally:
        await engine.dispose()
    details = " | ".join(row[-1] for row in plan)
    assert "ix_traits_key_customer" in details, details
