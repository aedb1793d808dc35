"""The unit of work: one transaction, and every repository as an attribute."""

from __future__ import annotations

from collections.abc import Callable

from rapport.delivery.adapters.inbox_repository import InboxRepository
from rapport.delivery.adapters.repository import MessageRepository
from rapport.sqlstore import SqlUnitOfWork


class DeliveryUnitOfWork(SqlUnitOfWork):
    messages: MessageRepository
    inbox: InboxRepository

    def _open_repositories(self) -> None:
        self.messages = MessageRepository(self.connection)
        self.inbox = InboxRepository(self.connection)


# uow_factory(readonly=...) -> a fresh unit of work.
UnitOfWorkFactory = Callable[..., DeliveryUnitOfWork]
