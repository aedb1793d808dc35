"""Where frequency caps count messages, shared by every replica: the database (this
module) or Redis (redis_cap_store.py).

`reserve` is atomic per customer: of two replicas clearing messages for the same
customer at once, the second sees the first's count. It is also idempotent per
message: asking again for a message already counted (a retry) does not count it
twice, and asking for it on another channel (a best channel chosen again) moves it.
"""

from __future__ import annotations

import abc
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rapport.delivery.domain.frequency_caps import CapRule, CapVerdict, Counted, verdict
from rapport.delivery.domain.model import Channel
from rapport.groupcommit import GroupCommit
from rapport.sqlstore import SqlUnitOfWork, advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .driver_rows import execute_rows
from .tables import cap_reservations


class CapStoreUnavailable(Exception):
    """The counts cannot be read now: the message waits (never goes out uncounted)."""


@dataclass(frozen=True)
class Reservation:
    message_id: str
    workspace: str
    customer_id: str
    purpose: str
    channel: Channel
    time: datetime


class CapStore(abc.ABC):
    @abc.abstractmethod
    async def reserve(
        self, reservation: Reservation, rules: Sequence[CapRule], others: Sequence[CapRule]
    ) -> CapVerdict:
        """Count the message under `rules` (those matching its channel) if every one
        has room, else count nothing; `others` are the rules of its purpose on other
        channels (it is taken out of them). Raises CapStoreUnavailable."""

    @abc.abstractmethod
    async def release(
        self, message_id: str, workspace: str, customer_id: str, rules: Sequence[CapRule]
    ) -> None:
        """The message did not go out: it stops counting (under any of `rules`)."""

    async def prune(self, before: datetime) -> int:
        """Forget counts made before `before` (older than every window); how many."""
        return 0

    async def close(self) -> None:  # noqa: B027 - the database variant holds nothing
        """Release connections (called once at shutdown)."""


# The batch's statements, built once (reservations are made many times a second).
_COUNT_MESSAGES = cap_reservations.insert()
_FORGET_MESSAGES = delete(cap_reservations).where(
    cap_reservations.c.message_id.in_(bindparam("r_ids", expanding=True))
)
_SINCE = (
    cap_reservations.c.workspace == bindparam("r_workspace"),
    cap_reservations.c.customer_id.in_(bindparam("r_customers", expanding=True)),
    cap_reservations.c.reserve_time
    > bindparam("r_since", type_=cap_reservations.c.reserve_time.type),
)
_COUNTED_SINCE = select(
    cap_reservations.c.customer_id,
    cap_reservations.c.purpose,
    cap_reservations.c.channel,
    cap_reservations.c.reserve_time,
).where(*_SINCE)
_HOW_MANY_SINCE = (
    select(cap_reservations.c.customer_id, func.count())
    .where(*_SINCE)
    .group_by(cap_reservations.c.customer_id)
)


class SqlCapStore(CapStore):
    """Counts in the delivery database. A transaction per reservation, holding a lock
    per customer (an advisory lock on PostgreSQL; SQLite serialises writers)."""

    def __init__(self, engine: AsyncEngine, *, linger: float = 0.0) -> None:
        self._engine = engine
        # Concurrent reservations are counted in one transaction (group commit).
        self._batches: GroupCommit[tuple[Reservation, Sequence[CapRule]], CapVerdict] = GroupCommit(
            linger=linger
        )

    async def reserve(
        self, reservation: Reservation, rules: Sequence[CapRule], others: Sequence[CapRule]
    ) -> CapVerdict:
        return await self._batches.submit((reservation, rules), self._reserve_batch)

    async def _reserve_batch(
        self, batch: Sequence[tuple[Reservation, Sequence[CapRule]]]
    ) -> list[CapVerdict | BaseException]:
        try:
            if len({r.message_id for r, _ in batch}) == len(batch):
                return list(await self._reserve_many(batch))
        except (SQLAlchemyError, OSError):
            if len(batch) == 1:
                return [await self._reserve_alone(*batch[0])]
        # Each alone: one that cannot be counted fails alone.
        return [await self._reserve_alone(r, rules) for r, rules in batch]

    async def _reserve_alone(
        self, reservation: Reservation, rules: Sequence[CapRule]
    ) -> CapVerdict | BaseException:
        try:
            return await self._reserve(reservation, rules)
        except (SQLAlchemyError, OSError) as err:
            return CapStoreUnavailable(type(err).__name__)

    async def _reserve_many(
        self, batch: Sequence[tuple[Reservation, Sequence[CapRule]]]
    ) -> list[CapVerdict]:
        """_reserve for messages of different ids in one transaction and a few statements:
        the customers' locks, the messages' earlier counts removed, the counts of the
        customers close to a cap read (_close_to_a_cap), the verdicts made in order (each
        seeing those before it), the new counts inserted."""
        windows = [rule.window for _, rules in batch for rule in rules]
        async with SqlUnitOfWork(self._engine) as uow:
            conn = uow.connection
            await advisory_xact_locks(
                conn,
                [advisory_key("delivery.caps", r.workspace, r.customer_id) for r, _ in batch],
            )
            await conn.execute(_FORGET_MESSAGES, {"r_ids": [r.message_id for r, _ in batch]})
            counted: dict[tuple[str, str], list[Counted]] = {}
            if windows:
                since = min(r.time for r, _ in batch) - max(windows)
                for workspace, close in (await self._close_to_a_cap(conn, batch, since)).items():
                    rows = await conn.execute(
                        _COUNTED_SINCE,
                        {"r_workspace": workspace, "r_customers": close, "r_since": since},
                    )
                    for customer_id, purpose, channel, time in rows:
                        counted.setdefault((workspace, customer_id), []).append(
                            Counted(purpose, _channel(channel), as_utc(time))  # type: ignore[arg-type]
                        )
            verdicts: list[CapVerdict] = []
            rows_to_add: list[dict[str, object]] = []
            for r, rules in batch:
                mine = counted.setdefault((r.workspace, r.customer_id), [])
                result = verdict(rules, mine, r.time) if rules else CapVerdict()
                if result.allowed and rules:
                    mine.append(Counted(r.purpose, r.channel, r.time))
                    rows_to_add.append(
                        {
                            "message_id": r.message_id,
                            "workspace": r.workspace,
                            "customer_id": r.customer_id,
                            "purpose": r.purpose,
                            "channel": r.channel.value,
                            "reserve_time": r.time,
                        }
                    )
                verdicts.append(result)
            if rows_to_add:
                await execute_rows(conn, _COUNT_MESSAGES, rows_to_add)
            await uow.commit()
        return verdicts

    @staticmethod
    async def _close_to_a_cap(
        conn: AsyncConnection,
        batch: Sequence[tuple[Reservation, Sequence[CapRule]]],
        since: datetime,
    ) -> dict[str, list[str]]:
        """Per workspace, the batch's customers whose counts must be read: those that may
        reach a cap here. A rule counts at most the customer's counts stored since `since`
        plus its messages judged before in this batch, so a customer whose stored counts
        and messages here stay within the smallest limit of their rules is allowed every
        one of them without its rows being read (under load most customers are far from
        their caps, and hold many counts)."""
        # workspace -> customer -> (its messages here that count, the smallest limit)
        wanted: dict[str, dict[str, tuple[int, int]]] = {}
        for r, rules in batch:
            if rules:
                mine = wanted.setdefault(r.workspace, {})
                seen, least = mine.get(r.customer_id, (0, sys.maxsize))
                mine[r.customer_id] = (seen + 1, min(least, *(rule.limit for rule in rules)))
        close: dict[str, list[str]] = {}
        for workspace, customers in wanted.items():
            stored = dict(
                (
                    await conn.execute(
                        _HOW_MANY_SINCE,
                        {
                            "r_workspace": workspace,
                            "r_customers": sorted(customers),
                            "r_since": since,
                        },
                    )
                ).all()
            )
            near = sorted(c for c, (n, least) in customers.items() if stored.get(c, 0) + n > least)
            if near:
                close[workspace] = near
        return close

    async def _reserve(self, reservation: Reservation, rules: Sequence[CapRule]) -> CapVerdict:
        r = reservation
        longest = max((rule.window for rule in rules), default=None)
        async with SqlUnitOfWork(self._engine) as uow:
            conn = uow.connection
            await advisory_xact_locks(
                conn, [advisory_key("delivery.caps", r.workspace, r.customer_id)]
            )
            await conn.execute(
                delete(cap_reservations).where(cap_reservations.c.message_id == r.message_id)
            )
            result = CapVerdict()
            if longest is not None:
                rows = await conn.execute(
                    select(
                        cap_reservations.c.purpose,
                        cap_reservations.c.channel,
                        cap_reservations.c.reserve_time,
                    ).where(
                        cap_reservations.c.workspace == r.workspace,
                        cap_reservations.c.customer_id == r.customer_id,
                        cap_reservations.c.reserve_time > r.time - longest,
                    )
                )
                counted = [
                    Counted(purpose, _channel(channel), as_utc(time))  # type: ignore[arg-type]
                    for purpose, channel, time in rows
                ]
                result = verdict(rules, counted, r.time)
            if result.allowed and rules:
                await conn.execute(
                    cap_reservations.insert().values(
                        message_id=r.message_id,
                        workspace=r.workspace,
                        customer_id=r.customer_id,
                        purpose=r.purpose,
                        channel=r.channel.value,
                        reserve_time=r.time,
                    )
                )
            await uow.commit()
        return result

    async def release(
        self, message_id: str, workspace: str, customer_id: str, rules: Sequence[CapRule]
    ) -> None:
        async with SqlUnitOfWork(self._engine) as uow:
            await uow.connection.execute(
                delete(cap_reservations).where(
                    and_(
                        cap_reservations.c.message_id == message_id,
                        cap_reservations.c.workspace == workspace,
                    )
                )
            )
            await uow.commit()

    async def prune(self, before: datetime) -> int:
        async with SqlUnitOfWork(self._engine) as uow:
            result = await uow.connection.execute(
                delete(cap_reservations).where(cap_reservations.c.reserve_time < before)
            )
            await uow.commit()
        return result.rowcount


# Stored channel values by name; a channel this version does not know is None.
_CHANNELS = {channel.value: channel for channel in Channel}


def _channel(value: str) -> Channel | None:
    return _CHANNELS.get(value)
