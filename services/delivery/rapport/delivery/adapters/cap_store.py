"""Where frequency caps count messages, shared by every replica: the database (this
module) or Redis (redis_cap_store.py).

`reserve` is atomic per customer: of two replicas clearing messages for the same
customer at once, the second sees the first's count. It is also idempotent per
message: asking again for a message already counted (a retry) does not count it
twice, and asking for it on another channel (a best channel chosen again) moves it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rapport.delivery.domain.frequency_caps import CapRule, CapVerdict, Counted, verdict
from rapport.delivery.domain.model import Channel
from rapport.groupcommit import GroupCommit
from rapport.sqlstore import SqlUnitOfWork, advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import and_, bindparam, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

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
_COUNTED_SINCE = select(
    cap_reservations.c.customer_id,
    cap_reservations.c.purpose,
    cap_reservations.c.channel,
    cap_reservations.c.reserve_time,
).where(
    cap_reservations.c.workspace == bindparam("r_workspace"),
    cap_reservations.c.customer_id.in_(bindparam("r_customers", expanding=True)),
    cap_reservations.c.reserve_time
    > bindparam("r_since", type_=cap_reservations.c.reserve_time.type),
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
        the customers' locks, the messages' earlier counts removed, the customers' counts
        read, the verdicts made in order (each seeing those before it), the new counts
        inserted."""
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
                customers: dict[str, set[str]] = {}
                for r, _ in batch:
                    customers.setdefault(r.workspace, set()).add(r.customer_id)
                for workspace, ids in customers.items():
                    rows = await conn.execute(
                        _COUNTED_SINCE,
                        {"r_workspace": workspace, "r_customers": sorted(ids), "r_since": since},
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


def _channel(value: str) -> Channel | None:
    try:
        return Channel(value)
    except ValueError:
        return None
