"""What the use cases are asked to do, already decoded from protobuf or the catalogue file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport.decisioning.domain.catalogue import Catalogue
from rapport.decisioning.domain.experiments import Strategy
from rapport.decisioning.domain.model import (
    ActionDraft,
    ActionGroupDraft,
    Channel,
    OutcomeType,
    Signal,
    TriggerDraft,
)
from rapport.decisioning.domain.policies import SettingsDraft


@dataclass(frozen=True)
class UnknownEnumValue:
    """An enum number this version does not know; the handler refuses it, naming the field."""

    number: int


@dataclass(frozen=True)
class FieldMask:
    """An update's mask (AIP-134) and the fields the request set (the implied mask)."""

    paths: tuple[str, ...] = ()
    populated: frozenset[str] = frozenset()


# -- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateAction:
    parent: str
    action_id: str
    draft: ActionDraft
    # The group's name as the client gave it; empty for none.
    group: str = ""


@dataclass(frozen=True)
class GetAction:
    name: str


@dataclass(frozen=True)
class ListActions:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # A group's name; empty means every action.
    group: str = ""


@dataclass(frozen=True)
class UpdateAction:
    name: str
    # `group_id` is not set: `group` is the group's name as the client gave it.
    draft: ActionDraft
    group: str
    mask: FieldMask


@dataclass(frozen=True)
class DeleteAction:
    name: str


# -- action groups ---------------------------------------------------------------------


@dataclass(frozen=True)
class CreateActionGroup:
    parent: str
    group_id: str
    draft: ActionGroupDraft


@dataclass(frozen=True)
class GetActionGroup:
    name: str


@dataclass(frozen=True)
class ListActionGroups:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # Only this issue's groups; empty means every group.
    issue: str = ""


@dataclass(frozen=True)
class UpdateActionGroup:
    name: str
    draft: ActionGroupDraft
    mask: FieldMask


@dataclass(frozen=True)
class DeleteActionGroup:
    name: str


# -- settings and versions -------------------------------------------------------------


@dataclass(frozen=True)
class GetDecisionSettings:
    name: str


@dataclass(frozen=True)
class UpdateDecisionSettings:
    name: str
    draft: SettingsDraft
    mask: FieldMask


@dataclass(frozen=True)
class PublishDecisionConfig:
    parent: str
    description: str = ""


@dataclass(frozen=True)
class RollbackDecisionConfig:
    name: str
    description: str = ""


@dataclass(frozen=True)
class GetDecisionConfigVersion:
    name: str


@dataclass(frozen=True)
class ListDecisionConfigVersions:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class DiffDecisionConfig:
    parent: str
    # Version names; empty base means the live version, empty target the draft.
    base_version: str = ""
    target_version: str = ""


@dataclass(frozen=True)
class ImportDecisionConfig:
    parent: str
    content: str
    merge: bool = False


@dataclass(frozen=True)
class ExportDecisionConfig:
    parent: str
    # A version's name; empty means the draft.
    version: str = ""


# -- decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decide:
    parent: str
    customer: str
    context: Mapping[str, Any] = field(default_factory=dict)
    # None means any channel.
    channel: Channel | UnknownEnumValue | None = None
    max_actions: int = 0
    placement: str = ""
    device: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class GetDecision:
    name: str


@dataclass(frozen=True)
class ListDecisions:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # A customer's name; empty means every customer.
    customer: str = ""


# -- outcomes --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordOutcome:
    parent: str
    customer: str
    action: str
    # None when unspecified.
    type: OutcomeType | UnknownEnumValue | None
    channel: Channel | UnknownEnumValue | None = None
    # The decision's name; empty when no stored decision explains the outcome.
    decision: str = ""
    outcome_time: datetime | None = None
    value: float = 0.0
    # AIP-155: deduplicates retries; empty records every call.
    request_id: str = ""


@dataclass(frozen=True)
class GetOutcome:
    name: str


@dataclass(frozen=True)
class ListOutcomes:
    parent: str
    page_size: int = 0
    page_token: str = ""
    # A decision's name; empty means every outcome.
    decision: str = ""


# -- triggers --------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTrigger:
    parent: str
    trigger_id: str
    # The action's resource name as the client gave it.
    action: str
    draft: TriggerDraft


@dataclass(frozen=True)
class GetTrigger:
    name: str


@dataclass(frozen=True)
class ListTriggers:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateTrigger:
    name: str
    # The action's resource name as the client gave it.
    action: str
    draft: TriggerDraft
    mask: FieldMask


@dataclass(frozen=True)
class DeleteTrigger:
    name: str


@dataclass(frozen=True)
class HandleSignal:
    """Fire the triggers a profile signal matches (the trigger runner's use case)."""

    workspace: str
    signal: Signal
    # The event's outcomes were recorded already, with its batch (outcome_batch.py).
    attributed: bool = False


# -- catalogue file --------------------------------------------------------------------


@dataclass(frozen=True)
class LoadCatalogue:
    """Apply the catalogue file at start-up unless it is the one last applied: its items
    created or replaced in the live version (published) and in the draft, all or nothing
    (config_io.load_catalogue)."""

    catalogue: Catalogue
    # The SHA-256 of the file's content: the same digest as last time changes nothing.
    digest: str


# -- experiments -----------------------------------------------------------------------


@dataclass(frozen=True)
class CreateExperiment:
    parent: str
    experiment_id: str
    display_name: str = ""
    # Action names as the client gave them.
    actions: tuple[str, ...] = ()
    # (arm_id, strategy (None when unspecified), weight).
    arms: tuple[tuple[str, Strategy | UnknownEnumValue | None, int], ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class GetExperiment:
    name: str


@dataclass(frozen=True)
class ListExperiments:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateExperiment:
    """`experiment` carries `name` (the experiment to update) and the new values."""

    name: str
    experiment: CreateExperiment
    mask: FieldMask = FieldMask()


@dataclass(frozen=True)
class DeleteExperiment:
    name: str


@dataclass(frozen=True)
class GetExperimentReport:
    name: str


# -- conversion rules ------------------------------------------------------------------


@dataclass(frozen=True)
class CreateConversionRule:
    parent: str
    rule_id: str
    action: str = ""
    event_name: str = ""
    window: timedelta | None = None


@dataclass(frozen=True)
class GetConversionRule:
    name: str


@dataclass(frozen=True)
class ListConversionRules:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UpdateConversionRule:
    """`rule` carries the new values (its parent and id unused)."""

    name: str
    rule: CreateConversionRule
    mask: FieldMask = FieldMask()


@dataclass(frozen=True)
class DeleteConversionRule:
    name: str


# -- data subject requests -------------------------------------------------------------


@dataclass(frozen=True)
class ExportCustomerDecisions:
    parent: str
    customer: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class EraseCustomerDecisions:
    parent: str
    customer: str
