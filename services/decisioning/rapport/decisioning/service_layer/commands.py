"""What the use cases are asked to do (built by the servicer and the catalogue loader)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.decisioning.domain.model import ActionDraft, Channel, OutcomeType, TriggerDraft
from rapport.decisioning.domain.validation import ActionFields, TriggerFields


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


@dataclass(frozen=True)
class Decide:
    parent: str
    customer: str
    context: dict[str, Any] = field(default_factory=dict)
    channel: Channel | None = None
    max_actions: int = 0


@dataclass(frozen=True)
class RecordOutcome:
    parent: str
    customer: str
    action: str
    # None when unspecified (or unknown).
    type: OutcomeType | None
    channel: Channel | None = None
    decision_id: str = ""
    outcome_time: datetime | None = None


@dataclass(frozen=True)
class CreateTrigger:
    parent: str
    trigger_id: str
    # The action's resource name as the client gave it.
    action: str
    draft: TriggerDraft


@dataclass(frozen=True)
class ListTriggers:
    parent: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class CatalogueAction:
    action_id: str
    draft: ActionDraft
    fields: ActionFields


@dataclass(frozen=True)
class CatalogueTrigger:
    trigger_id: str
    # draft.action_id is the action's id as written in the file.
    draft: TriggerDraft
    fields: TriggerFields


@dataclass(frozen=True)
class LoadCatalogue:
    """Create or replace every action and trigger of the catalogue file."""

    workspace: str
    actions: list[CatalogueAction] = field(default_factory=list)
    triggers: list[CatalogueTrigger] = field(default_factory=list)
