"""The use cases' inputs, decoded from protobuf (enums, timestamps, structs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapport.profile.domain.computed import Kind as ComputedKind
from rapport.profile.domain.hygiene import HygienePolicy
from rapport.profile.domain.model import IncomingEvent, RejectedEvent, SignalKind
from rapport.profile.domain.segments import LifeStage
from rapport.profile.domain.tracking import Enforcement


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
class BatchGetProfiles:
    parent: str
    names: tuple[str, ...]


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


@dataclass(frozen=True)
class ExportProfile:
    name: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class EraseProfile:
    name: str


@dataclass(frozen=True)
class GetDataHygienePolicy:
    name: str


@dataclass(frozen=True)
class UpdateDataHygienePolicy:
    # The policy's fields as sent (HygienePolicy of the named workspace).
    name: str
    policy: HygienePolicy
    update_mask: Sequence[str] = ()


@dataclass(frozen=True)
class ListProfiles:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # Only the profiles holding this trait; empty: every profile.
    has_trait: str = ""
    # The read_mask's paths; empty: every listable field.
    read_mask: Sequence[str] = ()


@dataclass(frozen=True)
class ListInactiveProfiles:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class CreateSegment:
    parent: str
    display_name: str
    rule: str
    segment_id: str = ""


@dataclass(frozen=True)
class GetSegment:
    name: str


@dataclass(frozen=True)
class ListSegments:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateSegment:
    name: str
    display_name: str
    rule: str
    update_mask: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteSegment:
    name: str


@dataclass(frozen=True)
class ListSegmentMembers:
    segment: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class PreviewSegment:
    parent: str
    rule: str
    sample_size: int = 0


@dataclass(frozen=True)
class GetLifeStageModel:
    name: str


@dataclass(frozen=True)
class UpdateLifeStageModel:
    name: str
    stages: Sequence[LifeStage]
    update_mask: Sequence[str] = ()


@dataclass(frozen=True)
class CreateTrackingPlan:
    parent: str
    display_name: str
    enforcement: Enforcement | None
    event_schemas: Mapping[str, dict[str, Any]]
    identify_schema: dict[str, Any] | None
    plan_id: str = ""


@dataclass(frozen=True)
class GetTrackingPlan:
    name: str


@dataclass(frozen=True)
class ListTrackingPlans:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateTrackingPlan:
    name: str
    display_name: str
    enforcement: Enforcement | None
    event_schemas: Mapping[str, dict[str, Any]]
    identify_schema: dict[str, Any] | None
    update_mask: Sequence[str] = ()


@dataclass(frozen=True)
class DeleteTrackingPlan:
    name: str


@dataclass(frozen=True)
class ListTrackingPlanRevisions:
    name: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ListTrackingPlanViolations:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class CreateComputedTrait:
    parent: str
    key: str
    kind: ComputedKind | None
    window_days: int
    event: str
    filter: Mapping[str, Any]
    property: str
    trait_id: str = ""


@dataclass(frozen=True)
class UpdateComputedTrait:
    name: str
    key: str
    kind: ComputedKind | None
    window_days: int
    event: str
    filter: Mapping[str, Any]
    property: str
    update_mask: tuple[str, ...] = ()


@dataclass(frozen=True)
class GetComputedTrait:
    name: str


@dataclass(frozen=True)
class ListComputedTraits:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class DeleteComputedTrait:
    name: str


@dataclass(frozen=True)
class GetBackfillJob:
    name: str


@dataclass(frozen=True)
class ListBackfillJobs:
    parent: str
    page_size: int = 0
    page_token: str = ""
