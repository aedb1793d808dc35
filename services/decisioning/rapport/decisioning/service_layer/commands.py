"""What the use cases are asked to do, already decoded from protobuf or the catalogue file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.decisioning.domain.catalogue import Catalogue
from rapport.decisioning.domain.model import (
    ActionDraft,
    Channel,
    OutcomeType,
    Signal,
    TriggerDraft,
)


@dataclass(frozen=True)
class UnknownEnumValue:
    """An enum number this version does not know; the handler refuses it, naming the field."""

    number: int


# -- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateAction:
    parent: str
    action_id: str
    draft: ActionDraft


@dataclass(frozen=True)
class GetAction:
    name: str


@dataclass(frozen=True)
class ListActions:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class DeleteAction:
    name: str


# -- decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decide:
    parent: str
    customer: str
    context: Mapping[str, Any] = field(default_factory=dict)
    # None means any channel.
    channel: Channel | UnknownEnumValue | None = None
    max_actions: int = 0


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
class HandleSignal:
    """Fire the triggers a profile signal matches (the trigger runner's use case)."""

    workspace: str
    signal: Signal


# -- catalogue file --------------------------------------------------------------------


@dataclass(frozen=True)
class LoadCatalogue:
    """Create or replace every action and trigger of the catalogue file, all or nothing."""

    catalogue: Catalogue
