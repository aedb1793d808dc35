"""The use cases' inputs, decoded from protobuf (enums, timestamps, structs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapport.profile.domain.model import IncomingEvent, RejectedEvent, SignalKind


@dataclass(frozen=True)
class IngestEvents:
    parent: str
    # Events that could not even be decoded (too large, out of range) come rejected.
    events: Sequence[IncomingEvent | RejectedEvent]


@dataclass(frozen=True)
class RemoveTraits:
    name: str
    keys: Sequence[str]


@dataclass(frozen=True)
class GetGroup:
    name: str


@dataclass(frozen=True)
class ListGroups:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ListGroupMembers:
    group: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class GetProfile:
    name: str


@dataclass(frozen=True)
class GetEvent:
    name: str


@dataclass(frozen=True)
class ListEvents:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class WatchSignals:
    parent: str
    start_cursor: str = ""
    # None stands for an unspecified or unknown kind (refused, by index).
    kinds: Sequence[SignalKind | None] = ()
