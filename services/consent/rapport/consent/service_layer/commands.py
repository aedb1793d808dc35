"""Use-case inputs, already decoded from protobuf (enums, timestamps); not yet validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rapport.consent.domain.model import Channel, ConsentState
from rapport.consent.domain.subject_requests import RequestType


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
class GetConsentRecord:
    name: str


@dataclass(frozen=True, slots=True)
class ListConsentRecords:
    parent: str
    page_size: int = 0
    page_token: str = ""
    purpose: str = ""
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class WatchConsentRecords:
    parent: str
    start_cursor: str = ""


@dataclass(frozen=True, slots=True)
class CheckConsent:
    customer: str
    purpose: str
    channel: Channel | None
    check_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class BatchCheckConsent:
    parent: str
    requests: tuple[CheckConsent, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class CreateDataSubjectRequest:
    parent: str
    customer: str
    type: RequestType | None
    block_identifiers: bool = False
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class GetDataSubjectRequest:
    name: str
    # The FULL view: with what access requests found.
    full: bool = False


@dataclass(frozen=True, slots=True)
class ListDataSubjectRequests:
    parent: str
    page_size: int = 0
    page_token: str = ""
    customer: str = ""
