"""Rows written at driver level (adapters/driver_rows.py) are the rows SQLAlchemy writes
for the same statement, on SQLite and PostgreSQL: values through the same bind
processors (the same stored values, datetimes included), literals of the statement kept, an
UPDATE's row count, and a statement reused with other columns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rapport.delivery.adapters.driver_rows import execute_rows
from rapport.delivery.adapters.tables import idempotency_keys, messages
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.sqlstore import as_utc, create_engine, migrate
from sqlalchemy import bindparam, case, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

_INSERT_KEY = idempotency_keys.insert()
_RENAME = (
    update(idempotency_keys)
    .where(idempotency_keys.c.idempotency_key == bindparam("b_key"))
    .values(
        # A literal of the statement ("gone") next to a value of each row.
        message_id=case(
            (idempotency_keys.c.workspace == "erased", "gone"), else_=bindparam("b_message")
        )
    )
)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}", None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
async def engine(database: tuple[str, str | None]) -> AsyncIterator[AsyncEngine]:
    url, schema = database
    engine = create_engine(url, schema=schema)
    await migrate(engine, MIGRATIONS_DIR, schema=schema)
    yield engine
    await engine.dispose()


def _key(i: int, time: datetime, workspace: str = "w") -> dict[str, Any]:
    return {
        "workspace": workspace,
        "idempotency_key": f"k{i}",
        "message_id": f"m{i}",
        "create_time": time,
    }


async def _stored(engine: AsyncEngine) -> list[tuple[str, str, str, datetime]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(idempotency_keys).order_by(idempotency_keys.c.idempotency_key)
        )
        return [(r.workspace, r.idempotency_key, r.message_id, as_utc(r.create_time)) for r in rows]  # type: ignore[misc]


async def _raw(engine: AsyncEngine) -> dict[str, tuple[Any, ...]]:
    # As stored (SQLite keeps datetimes as text): by key, without the key's number.
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT idempotency_key, workspace, message_id, create_time FROM idempotency_keys")
        )
        return {r[0]: tuple(r[1:]) for r in rows}


async def test_rows_are_those_sqlalchemy_writes(engine: AsyncEngine) -> None:
    times = [
        datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2030, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))),
    ]
    async with engine.begin() as conn:
        await execute_rows(conn, _INSERT_KEY, [_key(i, t) for i, t in enumerate(times)])
        await conn.execute(_INSERT_KEY, [_key(i + 10, t) for i, t in enumerate(times)])
    raw = await _raw(engine)
    for i in range(len(times)):
        mine, theirs = raw[f"k{i}"], raw[f"k{i + 10}"]
        assert mine[0] == theirs[0] and mine[2] == theirs[2]
    stored = {key: time for _, key, _, time in await _stored(engine)}
    assert [stored[f"k{i}"] for i in range(len(times))] == [
        stored[f"k{i + 10}"] for i in range(len(times))
    ]


async def test_an_update_keeps_its_literals_and_counts_rows(engine: AsyncEngine) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    async with engine.begin() as conn:
        await execute_rows(
            conn, _INSERT_KEY, [_key(1, now), _key(2, now, workspace="erased"), _key(3, now)]
        )
        result = await execute_rows(
            conn,
            _RENAME,
            [
                {"b_key": "k1", "b_message": "n1"},
                {"b_key": "k2", "b_message": "n2"},
                {"b_key": "absent", "b_message": "n9"},
            ],
        )
        assert result is not None
        assert result.rowcount in (2, -1)  # the driver's count, when it gives one
    assert [(row[1], row[2]) for row in await _stored(engine)] == [
        ("k1", "n1"),
        ("k2", "gone"),
        ("k3", "m3"),
    ]


async def test_one_statement_serves_rows_of_other_columns(engine: AsyncEngine) -> None:
    insert = messages.insert()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    row: dict[str, Any] = {
        "id": "m1",
        "workspace": "w",
        "customer_id": "c",
        "purpose": "p",
        "channel": "EMAIL",
        "idempotency_key": "k",
        "payload_fingerprint": "f",
        "subject": "s",
        "text_body": "t",
        "html_body": "",
        "data": "{}",
        "source": "",
        "state": "QUEUED",
        "attempt_count": 0,
        "provider": "",
        "provider_message_id": "",
        "failure_reason": "",
        "create_time": now,
        "update_time": now,
        "next_attempt_time": now,
    }
    async with engine.begin() as conn:
        await execute_rows(conn, insert, [row])
        # Fewer columns: the others take their server defaults.
        await execute_rows(conn, insert, [{**row, "id": "m2"}])
        await execute_rows(conn, insert, [{**row, "id": "m3", "locale": "fr"}])
        assert await execute_rows(conn, insert, []) is None
    async with engine.connect() as conn:
        stored = (
            await conn.execute(select(messages.c.id, messages.c.locale).order_by(messages.c.id))
        ).all()
    assert [tuple(r) for r in stored] == [("m1", ""), ("m2", ""), ("m3", "fr")]


async def test_rows_of_other_keys_or_expanding_statements_are_refused(engine: AsyncEngine) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    expanding = select(idempotency_keys).where(
        idempotency_keys.c.idempotency_key.in_(bindparam("keys", expanding=True))
    )
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="same keys"):
            await execute_rows(conn, _INSERT_KEY, [_key(1, now), {**_key(2, now), "x": 1}])
        with pytest.raises(ValueError, match="plain positional"):
            await execute_rows(conn, expanding, [{"keys": ["k1"]}])
    assert await _stored(engine) == []
