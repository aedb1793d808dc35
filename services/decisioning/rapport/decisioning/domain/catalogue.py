"""The catalogue file's content: action and trigger drafts with the places they came from."""

from __future__ import annotations

from dataclasses import dataclass

from .model import ActionDraft, TriggerDraft
from .validation import ActionFields, TriggerFields


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
class Catalogue:
    """Actions and triggers to create or replace in one workspace, all or nothing."""

    workspace: str
    actions: tuple[CatalogueAction, ...] = ()
    triggers: tuple[CatalogueTrigger, ...] = ()
