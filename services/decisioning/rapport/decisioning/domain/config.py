"""A whole decision configuration (the draft or a published version) and what changed
between two of them."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from . import names
from .model import Action, ActionGroup, Trigger, TriggerKind
from .policies import DecisionSettings

# The size of one workspace's configuration: a version is stored and cached whole.
MAX_ACTIONS = 1000
MAX_GROUPS = 200
MAX_TRIGGERS = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class DecisionConfig:
    """Actions, groups, triggers and settings of a workspace, each kind by id."""

    workspace: str
    actions: tuple[Action, ...] = ()
    groups: tuple[ActionGroup, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    settings: DecisionSettings = DecisionSettings()
    # The published version; 0 for the draft or before the first publication.
    version: int = 0

    @cached_property
    def derived(self) -> dict[Any, Any]:
        """Values the decision steps derive from this configuration alone (the actions'
        CEL variables...), kept as long as it is: a published version is cached whole."""
        return {}

    @cached_property
    def _actions(self) -> dict[str, Action]:
        return {action.action_id: action for action in self.actions}

    @cached_property
    def _groups(self) -> dict[str, ActionGroup]:
        return {group.group_id: group for group in self.groups}

    @cached_property
    def _triggers_by_event(self) -> dict[str, list[Trigger]]:
        by_event: dict[str, list[Trigger]] = {}
        for trigger in sorted(self.triggers, key=lambda t: t.trigger_id):
            if trigger.kind is TriggerKind.EVENT:
                by_event.setdefault(trigger.event_name, []).append(trigger)
        return by_event

    def action(self, action_id: str) -> Action | None:
        return self._actions.get(action_id)

    def group(self, group_id: str) -> ActionGroup | None:
        return self._groups.get(group_id) if group_id else None

    def triggers_for_event(self, event_name: str) -> list[Trigger]:
        """The EVENT triggers of an event, by id."""
        return self._triggers_by_event.get(event_name, [])

    def triggers_of_kind(self, kind: TriggerKind) -> list[Trigger]:
        """The triggers of a kind, by id."""
        return sorted((t for t in self.triggers if t.kind is kind), key=lambda t: t.trigger_id)

    def trigger(self, trigger_id: str) -> Trigger | None:
        return next((t for t in self.triggers if t.trigger_id == trigger_id), None)


@dataclass(frozen=True)
class ConfigVersion:
    """A published version, without its content."""

    workspace: str
    version: int
    description: str
    # For a rollback: the version whose content was published again.
    source_version: int | None
    action_count: int
    group_count: int
    trigger_count: int
    create_time: datetime
    live: bool = False

    @property
    def name(self) -> str:
        return names.version_name(self.workspace, self.version)

    @property
    def source_version_name(self) -> str:
        if self.source_version is None:
            return ""
        return names.version_name(self.workspace, self.source_version)


class ChangeType(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class ConfigChange:
    # An action, group or trigger name, or the settings' name.
    item: str
    change_type: ChangeType
    # CHANGED: the contract's names of the fields that differ.
    fields: tuple[str, ...] = ()


# Fields that are not content (identity, bookkeeping), and the contract's names of
# fields the domain spells otherwise.
_NOT_CONTENT = frozenset({"workspace", "create_time", "update_time"})
_CONTRACT_NAMES = {"group_id": "group", "action_id": "action"}
_IDENTITY = {Action: "action_id", ActionGroup: "group_id", Trigger: "trigger_id"}


def _changed_fields(before: Any, after: Any) -> tuple[str, ...]:
    identity = _IDENTITY.get(type(before))
    changed = []
    for field in dataclasses.fields(before):
        if field.name == identity or field.name in _NOT_CONTENT:
            continue
        if getattr(before, field.name) != getattr(after, field.name):
            changed.append(_CONTRACT_NAMES.get(field.name, field.name))
    return tuple(changed)


def _diff_items(
    base: Mapping[str, T], target: Mapping[str, T], name_of: Any
) -> Iterable[tuple[str, ConfigChange]]:
    for item_id in sorted(base.keys() | target.keys()):
        before, after = base.get(item_id), target.get(item_id)
        if before is None:
            yield item_id, ConfigChange(name_of(item_id), ChangeType.ADDED)
        elif after is None:
            yield item_id, ConfigChange(name_of(item_id), ChangeType.REMOVED)
        elif fields := _changed_fields(before, after):
            yield item_id, ConfigChange(name_of(item_id), ChangeType.CHANGED, fields)


def _by_id(items: Sequence[Any]) -> dict[str, Any]:
    return {getattr(item, _IDENTITY[type(item)]): item for item in items}


def diff(base: DecisionConfig, target: DecisionConfig) -> list[ConfigChange]:
    """What changed from `base` to `target`: settings, then groups, actions, triggers by id."""
    workspace = target.workspace
    changes: list[ConfigChange] = []
    if fields := _changed_fields(base.settings, target.settings):
        changes.append(ConfigChange(names.settings_name(workspace), ChangeType.CHANGED, fields))
    kinds = [
        (base.groups, target.groups, lambda i: names.group_name(workspace, i)),
        (base.actions, target.actions, lambda i: names.action_name(workspace, i)),
        (base.triggers, target.triggers, lambda i: names.trigger_name(workspace, i)),
    ]
    for before, after, name_of in kinds:
        changes.extend(change for _, change in _diff_items(_by_id(before), _by_id(after), name_of))
    return changes
