"""Inbox messages in SQL (SQLAlchemy Core); the same statements on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime

from rapport.delivery.domain.inbox import InboxMessage
from rapport.sqlstore import as_utc
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from .message_rows import stored_data
from .tables import inbox_messages


def _to_inbox_message(row: RowMapping) -> InboxMessage:
    return InboxMessage(
        id=row["id"],
        workspace=row["workspace"],
        customer_id=row["customer_id"],
        purpose=row["purpose"],
        subject=row["subject"],
        text_body=row["text_body"],
        html_body=row["html_body"],
        data=stored_data(row["data"], row["id"]),
        create_time=as_utc(row["create_time"]),  # type: ignore[arg-type]
        read_time=as_utc(row["read_time"]),
    )


class InboxRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add_once(self, message: InboxMessage) -> bool:
        """Insert unless a row with its id exists (a repeated delivery of the same
        message); True when inserted."""
        existing = await self._conn.execute(
            select(inbox_messages.c.id).where(inbox_messages.c.id == message.id)
        )
        if existing.first() is not None:
            return False
        await self._conn.execute(
            inbox_messages.insert().values(
                id=message.id,
                workspace=message.workspace,
                customer_id=message.customer_id,
                purpose=message.purpose,
                subject=message.subject,
                text_body=message.text_body,
                html_body=message.html_body,
                data=json.dumps(message.data or {}, sort_keys=True, separators=(",", ":")),
                create_time=message.create_time,
                read_time=message.read_time,
            )
        )
        return True

    async def get(self, workspace: str, customer_id: str, message_id: str) -> InboxMessage | None:
        row = (
            (
                await self._conn.execute(
                    select(inbox_messages).where(
                        inbox_messages.c.workspace == workspace,
                        inbox_messages.c.customer_id == customer_id,
                        inbox_messages.c.id == message_id,
                    )
                )
            )
            .mappings()
            .first()
        )
        return _to_inbox_message(row) if row is not None else None

    async def list(
        self,
        workspace: str,
        customer_id: str,
        *,
        unread_only: bool,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[InboxMessage]:
        """Newest first; `before` is the (create_time, id) keyset position to continue after."""
        query = select(inbox_messages).where(
            inbox_messages.c.workspace == workspace, inbox_messages.c.customer_id == customer_id
        )
        if unread_only:
            query = query.where(inbox_messages.c.read_time.is_(None))
        if before is not None:
            time, message_id = before
            query = query.where(
                or_(
                    inbox_messages.c.create_time < time,
                    and_(inbox_messages.c.create_time == time, inbox_messages.c.id < message_id),
                )
            )
        query = query.order_by(
            inbox_messages.c.create_time.desc(), inbox_messages.c.id.desc()
        ).limit(limit)
        rows = (await self._conn.execute(query)).mappings().all()
        return [_to_inbox_message(row) for row in rows]

    async def save_read_time(self, message: InboxMessage) -> None:
        # Only a first read is stored: of two concurrent marks, the earlier time stays.
        await self._conn.execute(
            update(inbox_messages)
            .where(inbox_messages.c.id == message.id, inbox_messages.c.read_time.is_(None))
            .values(read_time=message.read_time)
        )
