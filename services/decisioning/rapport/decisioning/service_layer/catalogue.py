"""Use case of the catalogue file: create or replace its actions and triggers, all or nothing."""

from __future__ import annotations

from rapport.decisioning.domain.model import Action, Trigger
from rapport.decisioning.domain.validation import validate_action, validate_trigger
from rapport.errors import InvalidArgument
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .unit_of_work import DecisioningUnitOfWork


async def load_catalogue(cmd: commands.LoadCatalogue, deps: Dependencies) -> tuple[int, int]:
    """Validate everything first, then write; returns the (actions, triggers) counts."""
    catalogue = cmd.catalogue
    if catalogue.workspace not in deps.workspaces:
        raise InvalidArgument(
            "workspace", f"{catalogue.workspace!r} is not one of the configured workspaces"
        )
    now = deps.clock()
    actions: dict[str, Action] = {}
    for entry in catalogue.actions:
        action = validate_action(
            catalogue.workspace,
            entry.action_id,
            entry.draft,
            deps.rules,
            create_time=now,
            fields=entry.fields,
        )
        if action.action_id in actions:
            raise InvalidArgument(entry.fields.action_id, f"{action.action_id} is listed twice")
        actions[action.action_id] = action

    async def write(uow: DecisioningUnitOfWork) -> int:
        triggers: dict[str, Trigger] = {}
        for trigger_entry in catalogue.triggers:
            action_id = trigger_entry.draft.action_id
            target = actions.get(action_id)
            if target is None and action_id:
                target = await uow.actions.get(catalogue.workspace, action_id)
            trigger = validate_trigger(
                catalogue.workspace,
                trigger_entry.trigger_id,
                trigger_entry.draft,
                target,
                deps.rules,
                create_time=now,
                fields=trigger_entry.fields,
            )
            if trigger.trigger_id in triggers:
                raise InvalidArgument(
                    trigger_entry.fields.trigger_id, f"{trigger.trigger_id} is listed twice"
                )
            triggers[trigger.trigger_id] = trigger
        for action in actions.values():
            await uow.actions.put(action)
        for trigger in triggers.values():
            await uow.triggers.put(trigger)
        return len(triggers)

    # Replicas starting together write the same rows: a lost race is redone.
    trigger_count = await run_with_retries(
        deps.uow, write, description="the catalogue kept conflicting with another writer"
    )
    return len(actions), trigger_count
