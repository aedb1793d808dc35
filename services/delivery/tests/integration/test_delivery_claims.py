"""Claims on the durable queue, on SQLite and PostgreSQL: dispatchers racing for due
messages (separate engines, as replicas) claim each exactly once; a claim whose holder
crashed is claimed again once its lease expired, and the stale holder can no longer
record; claims respect per-channel lanes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import Channel, Message, MessageContent, RetryPolicy
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.sqlstore import create_engine, migrate
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=120)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}", None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
async def engines(
    database: tuple[str, str | None],
) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    url, schema = database
    first = create_engine(url, schema=schema)
    await migrate(first, MIGRATIONS_DIR, schema=schema)
    if schema is None:
        # One process per SQLite database: both dispatchers share its engine (and its
        # write lock), as concurrent dispatch loops of that process do.
        yield first, first
    else:
        second = create_engine(url, schema=schema)
        yield first, second
        await second.dispose()
    await first.dispose()


def message(i: int, channel: Channel = Channel.EMAIL) -> Message:
    return Message.queue(
        id=f"m{i:04d}",
        workspace="default",
        customer_id="c1",
        purpose="marketing",
        channel=channel,
        idempotency_key=f"k{i}",
        content=MessageContent("Hi", "Body"),
        data={},
        source="",
        now=NOW,
    )


async def add(engine: AsyncEngine, messages: list[Message]) -> None:
    async with DeliveryUnitOfWork(engine) as uow:
        for each in messages:
            await uow.messages.add(each)
        await uow.commit()


async def claim(
    engine: AsyncEngine,
    token: str,
    *,
    limit: int,
    at: datetime = NOW,
    lanes: dict[str, int] | None = None,
) -> list[Message]:
    async with DeliveryUnitOfWork(engine) as uow:
        claimed = await uow.messages.claim_due(
            now=at, limit=limit, lease_token=token, lease_expire_time=at + LEASE, lanes=lanes
        )
        await uow.commit()
    return claimed


async def test_racing_dispatchers_claim_each_message_once(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    await add(engines[0], [message(i) for i in range(120)])
    taken: list[list[str]] = [[], []]

    async def dispatcher(n: int) -> None:
        while claimed := await claim(engines[n], f"t{n}", limit=7):
            taken[n] += [m.id for m in claimed]
            await asyncio.sleep(0)

    await asyncio.gather(dispatcher(0), dispatcher(1))
    everything = taken[0] + taken[1]
    assert sorted(everything) == [f"m{i:04d}" for i in range(120)]  # each exactly once


async def test_a_crashed_claim_is_retried_after_its_lease(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    await add(engines[0], [message(1)])
    [first] = await claim(engines[0], "crashed", limit=10)
    assert first.attempt_count == 1
    assert await claim(engines[1], "other", limit=10, at=NOW + LEASE / 2) == []
    [again] = await claim(engines[1], "other", limit=10, at=NOW + LEASE)
    assert again.attempt_count == 2
    first.retry_later(RetryPolicy(max_attempts=5), NOW, error="ATTEMPT_TIMEOUT")
    async with DeliveryUnitOfWork(engines[0]) as uow:
        # The crashed holder comes back: its lease is gone, it records nothing.
        assert not await uow.messages.record_attempt(first, "crashed")
        await uow.commit()


async def test_claims_respect_lanes(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    await add(
        engines[0],
        [message(i, Channel.SMS) for i in range(5)]
        + [message(i, Channel.WEBHOOK) for i in range(5, 8)],
    )
    claimed = await claim(engines[0], "t", limit=10, lanes={"SMS": 2, "WEBHOOK": 10})
    channels = sorted(m.channel.value for m in claimed if m.channel is not None)
    assert channels == ["SMS", "SMS", "WEBHOOK", "WEBHOOK", "WEBHOOK"]
    assert await claim(engines[0], "t2", limit=10, lanes={"WEBHOOK": 10}) == []


async def test_lanes_with_room_for_the_whole_claim_give_the_oldest_due_of_them(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    # Webhooks due first, then SMS, then email (a lane not asked for).
    due = [
        *(message(i, Channel.WEBHOOK) for i in range(3)),
        *(message(i, Channel.SMS) for i in range(3, 6)),
        *(message(i, Channel.EMAIL) for i in range(6, 9)),
    ]
    for i, each in enumerate(due):
        each.next_attempt_time = NOW - timedelta(seconds=len(due) - i)
    await add(engines[0], due)
    lanes = {"": 4, "SMS": 4, "WEBHOOK": 5}
    first = await claim(engines[0], "t", limit=4, lanes=lanes)
    assert [m.id for m in first] == ["m0000", "m0001", "m0002", "m0003"]
    rest = await claim(engines[0], "t2", limit=4, lanes=lanes)
    assert [m.id for m in rest] == ["m0004", "m0005"]


async def test_a_lane_short_of_room_with_fewer_due_still_gives_the_oldest_of_every_lane(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    # SMS has room for 2 of a claim of 4 and 2 due: one query for the lanes holds (the
    # oldest due of them all); once 3 SMS are due, SMS gets its 2 and webhooks the rest.
    due = [
        message(0, Channel.SMS),
        *(message(i, Channel.WEBHOOK) for i in range(1, 4)),
        message(4, Channel.SMS),
        message(5, Channel.WEBHOOK),
    ]
    for i, each in enumerate(due):
        each.next_attempt_time = NOW - timedelta(seconds=len(due) - i)
    await add(engines[0], due)
    lanes = {"SMS": 2, "WEBHOOK": 8}
    first = await claim(engines[0], "t", limit=4, lanes=lanes)
    assert [m.id for m in first] == ["m0000", "m0001", "m0002", "m0003"]
    await add(engines[0], [message(i, Channel.SMS) for i in range(6, 9)])
    rest = await claim(engines[0], "t2", limit=4, lanes=lanes)
    channels = sorted(m.channel.value for m in rest if m.channel is not None)
    assert channels == ["SMS", "SMS", "WEBHOOK"]
    assert [m.id for m in rest if m.channel is Channel.WEBHOOK] == ["m0005"]
