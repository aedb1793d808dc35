"""Frequency caps counted for a batch of messages in one transaction give each message the
verdict it gets counted alone, in order: whether its customer is far from every cap
(counts not read one by one) or close to one (read), across limits, windows, purposes,
channels and `defer` rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rapport.delivery.adapters.cap_store import Reservation, SqlCapStore
from rapport.delivery.adapters.tables import cap_reservations
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.frequency_caps import CapRule, CapVerdict, OnExceed
from rapport.delivery.domain.model import Channel
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import select

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
RULES = {
    Channel.EMAIL: [
        CapRule(limit=3, window=timedelta(hours=1), channel=Channel.EMAIL),
        CapRule(limit=5, window=timedelta(days=1), on_exceed=OnExceed.DEFER),
    ],
    Channel.SMS: [
        CapRule(limit=2, window=timedelta(hours=6), purpose="marketing", channel=Channel.SMS),
        CapRule(limit=5, window=timedelta(days=1), on_exceed=OnExceed.DEFER),
    ],
}


def _reservation(message_id: str, customer: str, channel: Channel, minutes: int) -> Reservation:
    purpose = "marketing" if minutes % 2 == 0 else "news"
    return Reservation(
        message_id, "default", customer, purpose, channel, NOW + timedelta(minutes=minutes)
    )


def _history() -> list[Reservation]:
    # Customer cN has N counts already: some inside the hour, some only inside the day.
    stored = []
    for n in range(7):
        for i in range(n):
            channel = Channel.EMAIL if i % 3 else Channel.SMS
            minutes = -10 * i if i < 3 else -120 * i
            stored.append(_reservation(f"old-{n}-{i}", f"c{n}", channel, minutes))
    return stored


def _batch() -> list[Reservation]:
    # Several messages per customer, a moment apart, on both channels.
    return [
        _reservation(f"new-{n}-{i}", f"c{n}", Channel.EMAIL if (n + i) % 3 else Channel.SMS, i)
        for i in range(4)
        for n in range(7)
    ]


async def _store(path: Path) -> SqlCapStore:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine, MIGRATIONS_DIR)
    store = SqlCapStore(engine)
    # The history is stored whatever the caps (a rule wide enough to count all of it).
    for r in _history():
        assert (await store._reserve(r, [CapRule(1000, timedelta(days=2))])).allowed
    return store


async def _counted(store: SqlCapStore) -> list[tuple[str, str]]:
    async with store._engine.connect() as conn:
        rows = await conn.execute(select(cap_reservations.c.message_id, cap_reservations.c.channel))
        return sorted((row[0], row[1]) for row in rows)


@pytest.mark.parametrize("scale", [1, 2, 100])
async def test_a_batch_gets_the_verdicts_of_one_at_a_time(tmp_path: Path, scale: int) -> None:
    """`scale` multiplies every limit: at 2 some customers are close to a cap, at 100 none."""
    rules = {
        channel: [
            CapRule(r.limit * scale, r.window, r.purpose, r.channel, r.workspace, r.on_exceed)
            for r in channel_rules
        ]
        for channel, channel_rules in RULES.items()
    }
    batch = [(r, rules[r.channel]) for r in _batch()]
    together, alone = await _store(tmp_path / "a.db"), await _store(tmp_path / "b.db")
    try:
        batched: Sequence[CapVerdict] = await together._reserve_many(batch)
        single = [await alone._reserve(r, r_rules) for r, r_rules in batch]
        assert batched == single
        assert await _counted(together) == await _counted(alone)
    finally:
        await together._engine.dispose()
        await alone._engine.dispose()
    if scale == 1:
        # The case is worth something: some were refused, some deferred, some allowed.
        assert any(v.allowed for v in single) and any(not v.allowed for v in single)
        assert any(v.defer_until is not None for v in single)
    elif scale == 100:
        assert all(v.allowed for v in single)


async def test_a_batch_that_reaches_a_cap_exactly_is_refused_where_alone_it_is(
    tmp_path: Path,
) -> None:
    """One rule every count matches: the first message past the limit is refused, however
    the limit splits between what was stored and the batch."""
    rules = [CapRule(limit=3, window=timedelta(days=1))]
    seed = [CapRule(1000, timedelta(days=2))]
    store = SqlCapStore(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'caps.db'}"))
    await migrate(store._engine, MIGRATIONS_DIR)
    try:
        for stored in range(5):
            for size in range(1, 5):
                customer = f"s{stored}-{size}"
                for i in range(stored):
                    old = _reservation(f"{customer}-old{i}", customer, Channel.EMAIL, -i)
                    await store._reserve(old, seed)
                batch = [
                    (_reservation(f"{customer}-new{i}", customer, Channel.EMAIL, i), rules)
                    for i in range(size)
                ]
                verdicts = await store._reserve_many(batch)
                assert [v.allowed for v in verdicts] == [stored + i < 3 for i in range(size)]
    finally:
        await store._engine.dispose()
