"""The whole signal log, every workspace in cursor order (what the NATS relay reads)."""

from __future__ import annotations

from rapport.profile.domain.model import SignalRecord
from rapport.sqlstore import as_utc
from sqlalchemy import Text, cast, func, select, text
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

    async def last_seq(self) -> int:
        """The seq of the newest stored signal (0: none)."""
        return int(await self._conn.scalar(select(func.max(signals.c.seq))) or 0)

    async def handed_out(self) -> int:
        """The largest seq ever handed out, also when that signal is gone (erased with
        its customer): a reader's cursor can be that far."""
        if self._conn.dialect.name == "postgresql":
            last = await self._conn.scalar(
                text("SELECT pg_sequence_last_value(pg_get_serial_sequence(:t, 'seq')::regclass)"),
                {"t": signals.name},
            )
        else:  # SQLite: the AUTOINCREMENT sequence (migration 0006)
            last = await self._conn.scalar(
                text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": signals.name}
            )
        return max(int(last or 0), await self.last_seq())
