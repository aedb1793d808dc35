"""The profile's domain objects: events as received and stored, traits, signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


# Event types whose traits update something: the customer's profile (identify) or
# a group (group).
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
    REJECTED = "rejected"


class RejectionReason(StrEnum):
    INVALID_FIELD = "INVALID_FIELD"
    EVENT_TOO_LARGE = "EVENT_TOO_LARGE"
    IDENTIFIER_REFUSED = "IDENTIFIER_REFUSED"
    TRACKING_PLAN_VIOLATION = "TRACKING_PLAN_VIOLATION"


@dataclass(frozen=True)
class Rejection:
    """Why one event of a batch was not stored: the field (a request path) and why."""

    field: str
    reason: RejectionReason
    description: str


@dataclass(frozen=True)
class RejectedEvent:
    """An event refused before it could be decoded (too large, a value out of range)."""

    message_id: str
    rejection: Rejection


@dataclass(frozen=True)
class Identifier:
    type: str
    value: str


@dataclass(frozen=True)
class IncomingEvent:
    """An event as the sender gave it: the fields a sender may set, already decoded.

    Output-only fields of the contract (name, customer, receive and event time)
    are not here: the server decides them.
    """

    type: EventType | None  # None: unspecified or unknown
    message_id: str
    user_id: str = ""
    anonymous_id: str = ""
    identifiers: tuple[Identifier, ...] = ()
    event: str = ""
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    previous_id: str = ""
    group_id: str = ""
    original_time: datetime | None = None
    sent_time: datetime | None = None


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: what the sender sent plus what the server decided."""

    event_id: str
    workspace: str
    customer_id: str
    type: EventType
    # When it happened, corrected for the sender's clock skew.
    event_time: datetime
    receive_time: datetime
    sent: IncomingEvent
    seq: int = 0

    @property
    def message_id(self) -> str:
        return self.sent.message_id

    @property
    def event_name(self) -> str:
        return self.sent.event


@dataclass(frozen=True)
class TraitSource:
    """Where a trait value (or its removal) came from."""

    # The event type that set it; None when no event did (see method).
    event_type: EventType | None = None
    # The sending library, from the event's context.library.
    library_name: str = ""
    library_version: str = ""
    # The RPC that made the change when no event did (e.g. "RemoveTraits").
    method: str = ""


@dataclass(frozen=True)
class Trait:
    value: Any
    source_message_id: str
    update_time: datetime
    # Ties on update_time go to the later ingested event: later received batch,
    # then later position in the batch. Independent of commit order.
    received_at: datetime
    batch_index: int
    source: TraitSource = TraitSource()
    # A removal, kept so that an older event arriving later cannot set the trait
    # again; never shown. ``value`` is None.
    removed: bool = False

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
    removed: bool = False
    source: TraitSource = TraitSource()


@dataclass(frozen=True)
class SignalRecord:
    """A row of the signal log as stored, not decoded yet.

    Decoding it (its kind, its JSON payload) may fail for a row this release cannot
    read; that must not stop a reader of the log, so it happens record by record.
    """

    seq: int
    workspace: str
    kind: str
    customer_id: str
    # The payload's JSON text.
    payload: str
    create_time: datetime


@dataclass(frozen=True)
class Signal:
    """A signal of the log, decoded."""

    seq: int
    workspace: str
    kind: SignalKind
    customer_id: str
    create_time: datetime


@dataclass(frozen=True)
class WatchedSignal:
    """One signal of a WatchSignals stream, with its detail decoded."""

    signal: Signal
    # For SignalKind.EVENT_SEEN.
    event: StoredEvent | None = None
    # For SignalKind.TRAIT_CHANGED.
    trait_change: TraitChange | None = None
    # For SignalKind.SEGMENT_ENTERED / SEGMENT_EXITED: the segment id.
    segment_id: str | None = None
    # For SignalKind.LIFE_STAGE_CHANGED: (old stage, new stage), '' for none.
    life_stage_change: tuple[str, str] | None = None
    # Stored signals skipped since the previous one because they could not be streamed.
    skipped_signal_count: int = 0


@dataclass(frozen=True)
class ProfileView:
    workspace: str
    customer_id: str
    # Visible traits only (removals are not shown).
    traits: dict[str, Trait]
    event_count: int
    first_seen_time: datetime
    last_seen_time: datetime
    # The group keys (see names.group_key) the customer belongs to, in joining order.
    group_keys: tuple[str, ...] = ()
    # The segments (ids) the customer is a member of, in id order.
    segment_ids: tuple[str, ...] = ()
    # The customer's life stage; empty for none.
    life_stage: str = ""
    # Computed trait values by key (domain.computed).
    computed_traits: dict[str, Any] = field(default_factory=dict)
    # When the view stops being true by time alone (computed trait values change as
    # whole days leave their windows, at UTC midnight); None: only a write changes it.
    valid_until: datetime | None = None


@dataclass(frozen=True)
class ProfileSummary:
    """The counters of a customer's events, kept beside the events."""

    event_count: int
    first_seen_time: datetime
    last_seen_time: datetime

    def including(self, other: ProfileSummary) -> ProfileSummary:
        return ProfileSummary(
            self.event_count + other.event_count,
            min(self.first_seen_time, other.first_seen_time),
            max(self.last_seen_time, other.last_seen_time),
        )


@dataclass(frozen=True)
class GroupView:
    workspace: str
    group_key: str
    group_id: str
    traits: dict[str, Trait]
    member_count: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class GroupMember:
    customer_id: str
    join_time: datetime
    source_message_id: str
