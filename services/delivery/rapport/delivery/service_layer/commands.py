"""Inputs of the use cases, decoded from protobuf (enums, structs) but not yet validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rapport.delivery.domain.model import Channel, MessageContent


@dataclass(frozen=True)
class SendMessage:
    parent: str
    idempotency_key: str
    customer: str
    purpose: str
    # None when the request left it unspecified.
    channel: Channel | None
    content: MessageContent
    # Template data: JSON values, whole numbers as ints.
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class GetMessage:
    name: str


@dataclass(frozen=True)
class ListMessages:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # Empty: every customer's messages.
    customer: str = ""


@dataclass(frozen=True)
class GetInboxMessage:
    name: str


@dataclass(frozen=True)
class ListInboxMessages:
    # The customer whose inbox is listed.
    parent: str
    page_size: int = 0
    page_token: str = ""
    unread_only: bool = False


@dataclass(frozen=True)
class MarkInboxMessageRead:
    name: str
