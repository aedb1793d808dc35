"""Inputs of the use cases, free of protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rapport.delivery.domain.model import MessageContent


@dataclass(frozen=True)
class SendMessage:
    parent: str
    idempotency_key: str
    customer: str
    purpose: str
    # Channel enum name without its prefix ("EMAIL"); "" or "UNSPECIFIED" when unset.
    channel: str
    content: MessageContent
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    # sha256 of the whole request, deterministically serialised.
    payload_fingerprint: str = ""


@dataclass(frozen=True)
class GetMessage:
    name: str


@dataclass(frozen=True)
class ListMessages:
    parent: str
    page_size: int = 0
    page_token: str = ""
    customer: str = ""
