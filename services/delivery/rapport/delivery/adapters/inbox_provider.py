"""The in-app channel's provider: puts the message in the customer's inbox (our own table).

The inbox message takes the message's id, so a repeated attempt of the same
message finds it there and adds nothing: it honours the idempotency key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rapport.delivery.domain import names
from rapport.delivery.domain.inbox import InboxMessage
from rapport.sqlstore import SqlUnitOfWork
from sqlalchemy.ext.asyncio import AsyncEngine

from .inbox_repository import InboxRepository
from .providers import OutgoingMessage, Provider


class InboxProvider(Provider):
    honours_idempotency_key = True

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        name: str = "inbox",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    async def send(self, outgoing: OutgoingMessage) -> str:
        workspace, message_id = names.parse_message(outgoing.message_name, field="message")
        _, customer_id = names.parse_customer(outgoing.customer, field="customer")
        inbox_message = InboxMessage(
            id=message_id,
            workspace=workspace,
            customer_id=customer_id,
            purpose=outgoing.purpose,
            subject=outgoing.subject,
            text_body=outgoing.text_body,
            html_body=outgoing.html_body or "",
            data=dict(outgoing.data),
            create_time=self._clock(),
        )
        async with SqlUnitOfWork(self._engine) as uow:
            await InboxRepository(uow.connection).add_once(inbox_message)
            await uow.commit()
        return inbox_message.name
