"""The content of a configuration file or an import: drafts with the places they came from."""

from __future__ import annotations

from dataclasses import dataclass

from .model import ActionDraft, ActionGroupDraft, TriggerDraft
from .policies import SettingsDraft
from .validation import ActionFields, GroupFields, TriggerFields


@dataclass(frozen=True)
class CatalogueAction:
    action_id: str
    draft: ActionDraft
    fields: ActionFields


@dataclass(frozen=True)
class CatalogueGroup:
    group_id: str
    draft: ActionGroupDraft
    fields: GroupFields


@dataclass(frozen=True)
class CatalogueTrigger:
    trigger_id: str
    # draft.action_id is the action's id as written in the file.
    draft: TriggerDraft
    fields: TriggerFields


@dataclass(frozen=True)
class Catalogue:
    """Settings, groups, actions and triggers for one workspace, written all or nothing."""

    workspace: str
    actions: tuple[CatalogueAction, ...] = ()
    triggers: tuple[CatalogueTrigger, ...] = ()
    groups: tuple[CatalogueGroup, ...] = ()
    # None when the file has no `settings`.
    settings: SettingsDraft | None = None
    # Whether the file named its workspace (else `workspace` is the default one).
    workspace_given: bool = False
