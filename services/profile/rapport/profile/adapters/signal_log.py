"""The whole signal log, every workspace in cursor order (what the NATS relay reads)."""

from __future__ import annotations

from rapport.profile.domain.model import SignalRecord
from rapport.sqlstore import as_utc
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import signals


class SignalLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def after(self, after_seq: int, limit: int) -> list[SignalRecord]:
        """Up to ``limit`` signals after ``after_seq`` (payloads as stored JSON text)."""
        rows = await self._conn.execute(
            select(
                signals.c.seq,
                signals.c.workspace,
                signals.c.kind,
                signals.c.customer_id,
                cast(signals.c.payload, Text).label("payload"),
                signals.c.create_time,
            )
            .where(signals.c.seq > after_seq)
            .order_by(signals.c.seq)
            .limit(limit)
        )
        return [
            SignalRecord(
                seq=int(row.seq),
                workspace=row.workspace,
                kind=row.kind,
                customer_id=row.customer_id,
                payload=row.payload,
                create_time=as_utc(row.create_time),
            )
            for row in rows
        ]
