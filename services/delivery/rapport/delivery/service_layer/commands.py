"""Inputs of the use cases, decoded from protobuf (enums, structs) but not yet validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.delivery.domain.model import Channel, MessageContent, Priority
from rapport.delivery.domain.status import ProviderEvent
from rapport.delivery.domain.templates import TemplateContent


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
    # A saved template's name, instead of content.
    template: str = ""
    best_channel: bool = False
    # None for an item left unspecified.
    candidate_channels: tuple[Channel | None, ...] = ()
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class BatchSendMessages:
    parent: str
    # Each as SendMessage takes it; an empty parent means the batch's.
    requests: tuple[SendMessage, ...]


@dataclass(frozen=True)
class GetMessage:
    name: str
    # With the status history (MESSAGE_VIEW_FULL).
    full: bool = False


@dataclass(frozen=True)
class ListMessages:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # Empty: every customer's messages.
    customer: str = ""
    # AIP-160 on the state (domain/message_filter.py); empty: every state.
    filter: str = ""


@dataclass(frozen=True)
class RetryMessage:
    name: str


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


@dataclass(frozen=True)
class TemplateDraft:
    """A template as a request gives it (not validated yet); locale keys as given."""

    default_locale: str = ""
    contents: dict[str, TemplateContent] = field(default_factory=dict)
    display_name: str = ""
    sample_traits: dict[str, Any] = field(default_factory=dict)
    sample_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateTemplate:
    parent: str
    template_id: str
    draft: TemplateDraft


@dataclass(frozen=True)
class GetTemplate:
    name: str


@dataclass(frozen=True)
class ListTemplates:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateTemplate:
    name: str
    draft: TemplateDraft
    # Field paths to update; empty means all.
    update_mask: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteTemplate:
    name: str


@dataclass(frozen=True)
class RenderTemplate:
    parent: str
    # A saved template's name, or an inline draft (exactly one).
    template: str = ""
    inline: TemplateDraft | None = None
    customer: str = ""
    # None when the request gave none (then the template's sample is used).
    traits: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    locale: str = ""
    channel: Channel | None = None
    # The message's consent purpose: a marketing SMS shows its opt-out notice; "" none.
    purpose: str = ""


@dataclass(frozen=True)
class ReportProviderEvent:
    parent: str
    # None when the request left it unspecified.
    type: ProviderEvent | None
    message: str = ""
    provider: str = ""
    provider_message_id: str = ""
    # None: now.
    event_time: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class ExportCustomerMessages:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class EraseCustomerMessages:
    parent: str
