"""The in-app inbox: messages put there by the dispatcher, listed and marked read by the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import names


@dataclass
class InboxMessage:
    """One in-app message of a customer; its id is the id of the Message that delivered it.

    ``data`` is None when the stored data cannot be read back (shown without it).
    """

    id: str
    workspace: str
    customer_id: str
    purpose: str
    subject: str
    text_body: str
    html_body: str
    data: dict[str, Any] | None
    create_time: datetime
    read_time: datetime | None = None

    @property
    def name(self) -> str:
        return names.inbox_message_name(self.workspace, self.customer_id, self.id)

    @property
    def message(self) -> str:
        return names.message_name(self.workspace, self.id)

    @property
    def customer(self) -> str:
        return names.customer_name(self.workspace, self.customer_id)

    def mark_read(self, now: datetime) -> bool:
        """Marks it read; False (and nothing changes) when it already was."""
        if self.read_time is not None:
            return False
        self.read_time = now
        return True
