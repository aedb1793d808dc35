"""Where a relay has got to in its log, kept in the service's own database."""

from __future__ import annotations

from typing import Protocol

from rapport.sqlstore import SqlUnitOfWork
from sqlalchemy import BigInteger, Column, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine


class RelayPosition(Protocol):
    """The cursor of the last record the relay has published (or skipped)."""

    async def load(self) -> int:
        """0 before the first save."""
        ...

    async def save(self, cursor: int) -> None:
        """Record progress; never moves backwards."""
        ...


def relay_positions_table(metadata: MetaData, name: str = "relay_positions") -> Table:
    """The table for :class:`SqlRelayPosition`, declared in a service's ``tables.py``
    (and created by one of its migrations): one row per relayed log."""
    return Table(
        name,
        metadata,
        Column("log", String(128), primary_key=True),
        Column("cursor", BigInteger, nullable=False),
    )


class SqlRelayPosition:
    """:class:`RelayPosition` in ``table`` (see :func:`relay_positions_table`), row ``log``.

    Writes go through a SqlUnitOfWork, so on SQLite they queue behind the service's
    other writers instead of failing with "database is locked".
    """

    def __init__(self, engine: AsyncEngine, table: Table, log: str) -> None:
        self._engine = engine
        self._table = table
        self._log = log

    async def load(self) -> int:
        async with SqlUnitOfWork(self._engine, readonly=True) as uow:
            cursor = await uow.connection.scalar(
                select(self._table.c.cursor).where(self._table.c.log == self._log)
            )
        return int(cursor or 0)

    async def save(self, cursor: int) -> None:
        table = self._table
        try:
            async with SqlUnitOfWork(self._engine) as uow:
                # Only forwards: a second relay that fell behind must not move it back.
                moved = await uow.connection.execute(
                    update(table)
                    .where(table.c.log == self._log, table.c.cursor < cursor)
                    .values(cursor=cursor)
                )
                if moved.rowcount == 0:
                    found = await uow.connection.scalar(
                        select(table.c.cursor).where(table.c.log == self._log)
                    )
                    if found is None:
                        await uow.connection.execute(
                            insert(table).values(log=self._log, cursor=cursor)
                        )
                await uow.commit()
        except IntegrityError:
            # Another replica inserted the row first: the next save moves it on.
            return
