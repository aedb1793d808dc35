"""Use-case inputs, already translated from protobuf (enums and timestamps decoded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rapport.consent.domain.model import Channel, ConsentState


@dataclass(frozen=True, slots=True)
class RecordConsent:
    parent: str
    purpose: str
    channel: Channel | None
    state: ConsentState | None
    source: str
    notice_version: str = ""
    proof: str = ""
    effective_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckConsent:
    customer: str
    purpose: str
    channel: Channel | None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class BatchCheckConsent:
    parent: str
    requests: list[CheckConsent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListConsentHistory:
    parent: str
    page_size: int = 0
    page_token: str = ""
    purpose: str = ""
    channel: Channel | None = None
