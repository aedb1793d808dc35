"""The bulk writes on PostgreSQL (one array per column through unnest): what goes in
reads back as SQLAlchemy's own insert would have stored it, RETURNING included, and
delete_rows removes exactly the rows of the keys given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from rapport.profile.adapters import bulk
from rapport.profile.adapters.tables import events, segment_members
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import select

COLUMNS = ("workspace", "message_id", "event_id", "customer_id", "type", "event_name")
COLUMNS += ("timestamp", "received_at", "document")
MEMBER_KEY = ("workspace", "segment_id", "customer_id")
ODD_DOCUMENTS = [
    {"a": [1, 2.5, None], "nested": {"deep": {"x": "é ☃ \\u0000-free"}}},
    {},
    [1, "two"],
    "a string",
    {"quote": 'it\'s "quoted", {braced} and ,comma,'},
]


async def test_rows_go_in_and_come_back_as_given(postgres_url: str, pg_schema: str) -> None:
    engine = create_engine(postgres_url, schema=pg_schema)
    try:
        await migrate(engine, MIGRATIONS_DIR, schema=pg_schema)
        moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5)))
        rows = [
            (
                "default",
                f"m-{n}",
                f"e-{n}",
                f"c-{n % 2}",
                "track",
                f"Ordered {n}",
                moment + timedelta(days=n),
                datetime(999, 1, 2, tzinfo=UTC),
                document,
            )  # fmt: skip
            for n, document in enumerate(ODD_DOCUMENTS)
        ]
        async with engine.begin() as conn:
            returned = await bulk.insert_rows(
                conn,
                events,
                COLUMNS,
                rows,
                tail=bulk.returning_clause(conn, events, ("event_id", "seq")),
                returning=True,
            )
            # Again with as many rows: the same statement, prepared once.
            again = [(*row[:2], f"x-{row[2]}", *row[3:]) for row in rows]
            await bulk.insert_rows(conn, events, COLUMNS, again)
        async with engine.connect() as conn:
            stored = (await conn.execute(select(events).order_by(events.c.seq))).mappings().all()
        assert [event_id for event_id, _ in returned] == [f"e-{n}" for n in range(len(rows))]
        assert {event_id: seq for event_id, seq in returned} == {
            row["event_id"]: row["seq"] for row in stored[: len(rows)]
        }
        for row, given in zip(stored, rows + again, strict=True):
            assert tuple(row[c] for c in COLUMNS) == given

        members = [("default", f"s-{s}", f"c-{c}") for s in range(3) for c in range(4)]
        async with engine.begin() as conn:
            await conn.execute(
                segment_members.insert(),
                [
                    {"workspace": w, "segment_id": s, "customer_id": c, "enter_time": moment}
                    for w, s, c in members
                ],
            )
            assert bulk.can_delete(
                conn, segment_members, ("workspace", "segment_id", "customer_id")
            )
            doomed = [("default", "s-1", "c-0"), ("default", "s-2", "c-3"), ("other", "s-0", "c-0")]
            await bulk.delete_rows(conn, segment_members, MEMBER_KEY, doomed)
        async with engine.connect() as conn:
            left = {
                tuple(row)
                for row in await conn.execute(
                    select(
                        segment_members.c.workspace,
                        segment_members.c.segment_id,
                        segment_members.c.customer_id,
                    )
                )
            }
        assert left == set(members) - set(doomed)
    finally:
        await engine.dispose()
