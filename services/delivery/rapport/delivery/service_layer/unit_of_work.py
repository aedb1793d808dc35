"""The unit of work: one transaction, and every repository as an attribute."""

from __future__ import annotations

from collections.abc import Callable

from rapport.delivery.adapters.consent_cursor_repository import ConsentCursors
from rapport.delivery.adapters.early_event_repository import EarlyEvents
from rapport.delivery.adapters.idempotency_repository import IdempotencyKeys
from rapport.delivery.adapters.inbox_repository import InboxRepository
from rapport.delivery.adapters.message_repository import MessageRepository
from rapport.delivery.adapters.signing_key_repository import SigningKeys
from rapport.delivery.adapters.status_repository import StatusRepository
from rapport.delivery.adapters.template_repository import TemplateRepository
from rapport.sqlstore import SqlUnitOfWork


class DeliveryUnitOfWork(SqlUnitOfWork):
    messages: MessageRepository
    idempotency_keys: IdempotencyKeys
    inbox: InboxRepository
    templates: TemplateRepository
    status: StatusRepository
    consent_cursors: ConsentCursors
    early_events: EarlyEvents
    signing_keys: SigningKeys

    def _open_repositories(self) -> None:
        self.messages = MessageRepository(self.connection)
        self.idempotency_keys = IdempotencyKeys(self.connection)
        self.inbox = InboxRepository(self.connection)
        self.templates = TemplateRepository(self.connection)
        self.status = StatusRepository(self.connection)
        self.consent_cursors = ConsentCursors(self.connection)
        self.early_events = EarlyEvents(self.connection)
        self.signing_keys = SigningKeys(self.connection)


# uow_factory(readonly=..., snapshot=...) -> a fresh unit of work (snapshot: reads of
# one moment, rapport.sqlstore.SqlUnitOfWork).
UnitOfWorkFactory = Callable[..., DeliveryUnitOfWork]
