"""Use cases of whole configurations as documents: import into the draft, export, and the
catalogue file applied at start-up.

The catalogue file ("configuration as a file") sits next to an API with a draft and
versions. Its rule, per workspace, under the draft's lock (replicas starting together
queue; the later ones find the file already applied):

- The SHA-256 of the file's content is remembered (catalogue_loads). A start with the
  same file as last time changes nothing: no version, the draft as it is, API edits
  (published or not) kept.
- A changed file (or the first one) is applied on top of the LIVE version: each group,
  action and trigger it names is created or replaced whole, its settings (when it has
  some) replace the live ones, everything it does not name stays as published. That is
  published as a new version ("catalogue file changed ...") when it differs from the
  live one. Unpublished draft edits are never published by a start.
- The same items are merged into the draft too, so that publishing the draft later does
  not silently undo the file. The draft's other edits stay unpublished in the draft; a
  draft edit of an item the file names is replaced by the file's item (the file is the
  newer word on the items it names). When the draft cannot take the file (a draft
  trigger would lose its action or channel, the draft too large...), the draft is left
  as it is and a warning says that publishing it would undo the file.
- A file that is invalid against the live version fails the start and changes nothing.
- The segments of the SEGMENT_ENTERED/EXITED triggers the file names must be profile's
  (GetSegment, asked outside the draft's lock, and only when the file changed): a
  missing one fails the start (SEGMENT_NOT_FOUND, naming the trigger and the segment)
  and changes nothing. Profile unreachable is UNAVAILABLE with nothing changed; the
  start-up then goes on without the file (bootstrap applies it once profile answers).
  ImportDecisionConfig checks the triggers its document names the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from rapport.decisioning.domain.catalogue import Catalogue
from rapport.decisioning.domain.config import ConfigChange, DecisionConfig, diff
from rapport.decisioning.domain.model import Trigger
from rapport.decisioning.domain.policies import DecisionSettings
from rapport.decisioning.domain.settings_validation import validate_settings
from rapport.decisioning.domain.validation import (
    validate_action,
    validate_group,
    validate_trigger,
)
from rapport.errors import Aborted, InvalidArgument, Unavailable
from rapport.sqlstore import database_unreachable

from . import commands
from .dependencies import Dependencies
from .draft import check_size, read_draft, replace_draft
from .request_checks import served_workspace
from .segment_checks import SegmentCheck, edit_draft_with_segments
from .unit_of_work import DecisioningUnitOfWork
from .versions import config_at, live_config, publish_content

log = logging.getLogger(__name__)


def _unique(ids: list[str], item_id: str, field: str) -> None:
    if item_id in ids:
        raise InvalidArgument(field, f"{item_id} is listed twice")
    ids.append(item_id)


def _keep_create_time(item: Any, before: Any) -> Any:
    return dataclasses.replace(item, create_time=before.create_time) if before else item


def merged_config(
    catalogue: Catalogue, current: DecisionConfig, deps: Dependencies, *, merge: bool
) -> DecisionConfig:
    """The draft the catalogue makes of `current`, validated whole; InvalidArgument naming
    the place in the document otherwise. Merging keeps the items the document does not
    name; replacing drops them (and absent settings are the defaults). Items replaced keep
    their create_time."""
    workspace, now = current.workspace, deps.clock()
    old_groups = {g.group_id: g for g in current.groups}
    old_actions = {a.action_id: a for a in current.actions}
    old_triggers = {t.trigger_id: t for t in current.triggers}
    groups = dict(old_groups) if merge else {}
    ids: list[str] = []
    for g in catalogue.groups:
        group = validate_group(
            workspace, g.group_id, g.draft, deps.rules, create_time=now, fields=g.fields,
            update_time=now,
        )  # fmt: skip
        _unique(ids, group.group_id, g.fields.item_id)
        groups[group.group_id] = _keep_create_time(group, old_groups.get(group.group_id))
    actions = dict(old_actions) if merge else {}
    ids = []
    for a in catalogue.actions:
        action = validate_action(
            workspace, a.action_id, a.draft, deps.rules, create_time=now, fields=a.fields,
            group=groups.get(a.draft.group_id), update_time=now,
        )  # fmt: skip
        _unique(ids, action.action_id, a.fields.item_id)
        actions[action.action_id] = _keep_create_time(action, old_actions.get(action.action_id))
    triggers = dict(old_triggers) if merge else {}
    ids = []
    for t in catalogue.triggers:
        trigger = validate_trigger(
            workspace, t.trigger_id, t.draft, actions.get(t.draft.action_id), deps.rules,
            create_time=now, fields=t.fields, update_time=now,
        )  # fmt: skip
        _unique(ids, trigger.trigger_id, t.fields.item_id)
        triggers[trigger.trigger_id] = _keep_create_time(
            trigger, old_triggers.get(trigger.trigger_id)
        )
    for trigger in triggers.values():  # kept triggers against replaced actions
        action = actions.get(trigger.action_id)
        if action is None or trigger.channel not in action.channels:
            raise InvalidArgument(
                "triggers", f"trigger {trigger.trigger_id} would lose its action or channel"
            )
    settings = current.settings if merge else DecisionSettings()
    if catalogue.settings is not None:
        validated = validate_settings(catalogue.settings, deps.rules, "settings")
        settings = dataclasses.replace(validated, update_time=now)
    config = DecisionConfig(
        workspace,
        actions=tuple(actions[i] for i in sorted(actions)),
        groups=tuple(groups[i] for i in sorted(groups)),
        triggers=tuple(triggers[i] for i in sorted(triggers)),
        settings=settings,
    )
    check_size(config, "content")
    return config


def _named_triggers(catalogue: Catalogue, config: DecisionConfig) -> list[tuple[str, Trigger]]:
    """The triggers of `config` the document names, each with its place in the document
    (`triggers[2].segment`): those the document created or replaced."""
    places = {t.trigger_id: t.fields("segment") for t in catalogue.triggers}
    return [(places[t.trigger_id], t) for t in config.triggers if t.trigger_id in places]


def _check_workspace(catalogue: Catalogue, workspace: str) -> None:
    if catalogue.workspace_given and catalogue.workspace != workspace:
        raise InvalidArgument("content", f"workspace: must be {workspace} (the parent's)")


async def import_config(
    cmd: commands.ImportDecisionConfig, deps: Dependencies
) -> list[ConfigChange]:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    catalogue = deps.documents.parse(cmd.content)
    _check_workspace(catalogue, workspace)

    async def work(uow: DecisioningUnitOfWork, segments: SegmentCheck) -> list[ConfigChange]:
        current = await read_draft(uow, workspace)
        try:
            config = merged_config(catalogue, current, deps, merge=cmd.merge)
        except InvalidArgument as err:
            wrapped = InvalidArgument("content", err.message)
            wrapped.metadata.update({k: v for k, v in err.metadata.items() if k != "field"})
            raise wrapped from err
        segments.require_placed(_named_triggers(catalogue, config))
        await replace_draft(uow, config)
        return diff(current, config)

    changes = await edit_draft_with_segments(deps, workspace, work)
    log.info("configuration imported", extra={"workspace": workspace, "count": len(changes)})
    return changes


async def export_config(cmd: commands.ExportDecisionConfig, deps: Dependencies) -> str:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        config = await config_at(uow, workspace, cmd.version, "version", default="draft")
    return deps.documents.dump(config)


@dataclasses.dataclass(frozen=True)
class CatalogueLoad:
    """What a start did with the catalogue file."""

    # False: the same file as last time, nothing changed.
    applied: bool
    # The version published, if the file changed the live configuration.
    version: int | None = None
    # Why the draft could not take the file (it was left as it was); '' when it did.
    draft_kept: str = ""
    actions: int = 0
    triggers: int = 0


async def load_catalogue(cmd: commands.LoadCatalogue, deps: Dependencies) -> CatalogueLoad:
    """Apply the file unless it is the one last applied (the rule: the module's docstring)."""
    catalogue = cmd.catalogue
    if catalogue.workspace not in deps.workspaces:
        raise InvalidArgument(
            "workspace", f"{catalogue.workspace!r} is not one of the configured workspaces"
        )
    workspace = catalogue.workspace

    async def work(uow: DecisioningUnitOfWork, segments: SegmentCheck) -> CatalogueLoad:
        if await uow.catalogue_loads.digest(workspace) == cmd.digest:
            return CatalogueLoad(applied=False)
        live = await live_config(uow, workspace)
        published = merged_config(catalogue, live, deps, merge=True)
        segments.require_placed(_named_triggers(catalogue, published))
        version = None
        if not live.version or diff(live, published):
            description = (
                f"catalogue file changed (sha256 {cmd.digest[:12]}), applied on top of "
                f"version {live.version}"
                if live.version
                else f"catalogue file (sha256 {cmd.digest[:12]}), first version"
            )
            version = (await publish_content(uow, deps, published, description)).version
        draft_kept = await _merge_into_draft(uow, catalogue, deps)
        await uow.catalogue_loads.record(workspace, cmd.digest, version, deps.clock())
        return CatalogueLoad(applied=True, version=version, draft_kept=draft_kept)

    # Replicas starting together queue on the draft's lock: the first applies the file,
    # the others find its digest recorded and change nothing.
    loaded = await edit_draft_with_segments(deps, workspace, work)
    if loaded.version is not None:
        deps.live.forget(workspace)
    return dataclasses.replace(
        loaded, actions=len(catalogue.actions), triggers=len(catalogue.triggers)
    )


async def load_catalogue_when_reachable(
    cmd: commands.LoadCatalogue, deps: Dependencies, *, first_wait: float, max_wait: float
) -> CatalogueLoad:
    """load_catalogue, after a pause, again and again (the pause doubling from `first_wait`
    up to `max_wait`) while profile or the database cannot be reached; any other error
    (a segment missing, the file invalid against a live version changed meanwhile) is
    raised with nothing changed."""
    wait = first_wait
    while True:
        await asyncio.sleep(wait)
        try:
            return await load_catalogue(cmd, deps)
        except (Unavailable, Aborted):
            pass
        except Exception as err:
            if not database_unreachable(err):
                raise
        wait = min(wait * 2, max_wait)


async def _merge_into_draft(
    uow: DecisioningUnitOfWork, catalogue: Catalogue, deps: Dependencies
) -> str:
    """The file's items into the draft; why the draft was left as it was, else ''."""
    draft = await read_draft(uow, catalogue.workspace)
    try:
        merged = merged_config(catalogue, draft, deps, merge=True)
    except InvalidArgument as err:
        return err.message
    await replace_draft(uow, merged)
    return ""
