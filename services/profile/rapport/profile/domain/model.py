"""The profile's domain objects: events as received and stored, traits, signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


# Event types whose traits update the profile.
TRAIT_BEARING_TYPES = frozenset({EventType.IDENTIFY, EventType.GROUP})


class SignalKind(StrEnum):
    EVENT_SEEN = "event_seen"
    TRAIT_CHANGED = "trait_changed"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    LIFE_STAGE_CHANGED = "life_stage_changed"


class IngestStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Identifier:
    type: str
    value: str


@dataclass(frozen=True)
class IncomingEvent:
    """An event as the sender gave it (output-only fields ignored).

    ``document`` is the whole event in protobuf JSON form; it is stored verbatim
    so that nothing the sender sent (properties, context...) is lost.
    """

    type: EventType | None  # None: unspecified or unknown
    message_id: str
    user_id: str = ""
    anonymous_id: str = ""
    identifiers: tuple[Identifier, ...] = ()
    event: str = ""
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    previous_id: str = ""
    group_id: str = ""
    original_timestamp: datetime | None = None
    sent_at: datetime | None = None
    document: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: the sender's document plus what the server decided."""

    event_id: str
    workspace: str
    customer_id: str
    message_id: str
    type: EventType
    event_name: str
    timestamp: datetime
    received_at: datetime
    document: dict[str, Any]
    seq: int = 0


@dataclass(frozen=True)
class Trait:
    value: Any
    source_message_id: str
    update_time: datetime
    # Ties on update_time go to the later ingested event: later received batch,
    # then later position in the batch. Independent of commit order.
    received_at: datetime
    batch_index: int

    @property
    def precedence(self) -> tuple[datetime, datetime, int]:
        return (self.update_time, self.received_at, self.batch_index)


@dataclass(frozen=True)
class TraitChange:
    key: str
    new_value: Any
    source_message_id: str
    had_old_value: bool
    old_value: Any = None


@dataclass(frozen=True)
class Signal:
    seq: int
    workspace: str
    kind: SignalKind
    customer_id: str
    payload: dict[str, Any]
    create_time: datetime


@dataclass(frozen=True)
class ProfileView:
    workspace: str
    customer_id: str
    traits: dict[str, Trait]
    event_count: int
    first_seen_time: datetime
    last_seen_time: datetime


def as_utc(moment: datetime) -> datetime:
    """Timezone-aware UTC; naive values (SQLite) are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
