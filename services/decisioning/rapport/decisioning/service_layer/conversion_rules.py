"""Use cases of conversion rules: create, get, list, update, delete (attribution:
attribution.py)."""

from __future__ import annotations

import dataclasses
import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.checks import validate_resource_id
from rapport.decisioning.domain.experiments import ConversionRule, validate_conversion_rule
from rapport.errors import AlreadyExists, InvalidArgument, NotFound

from . import commands
from .dependencies import Dependencies
from .draft import mask_paths
from .listing import list_by_id
from .request_checks import served_name, served_workspace

log = logging.getLogger(__name__)

MAX_CONVERSION_RULES = 500
UPDATABLE = ("action", "event_name", "window")


async def create_conversion_rule(
    cmd: commands.CreateConversionRule, deps: Dependencies
) -> ConversionRule:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    validate_resource_id(cmd.rule_id, "conversion_rule_id")
    field = "conversion_rule.action"
    if not cmd.action:
        raise InvalidArgument(field, "is required")
    action = names.require_same_workspace(names.parse_action(cmd.action, field), workspace, field)
    validate_conversion_rule(cmd.event_name, cmd.window)
    assert cmd.window is not None  # validated
    rule = ConversionRule(
        workspace=workspace,
        rule_id=cmd.rule_id,
        action_id=action.id,
        event_name=cmd.event_name,
        window=cmd.window,
        create_time=deps.clock(),
    )
    live = await deps.live.get(workspace)
    async with deps.uow() as uow:
        if live.action(action.id) is None and await uow.actions.get(workspace, action.id) is None:
            raise NotFound(cmd.action)
        if await uow.conversion_rules.get(workspace, cmd.rule_id) is not None:
            raise AlreadyExists(rule.name)
        existing = await uow.conversion_rules.list_page(
            workspace, after=None, limit=MAX_CONVERSION_RULES
        )
        if len(existing) >= MAX_CONVERSION_RULES:
            raise InvalidArgument(
                "parent", f"holds {MAX_CONVERSION_RULES} conversion rules already"
            )
        await uow.conversion_rules.add(rule)
        await uow.commit()
    log.info("conversion rule created", extra={"resource": rule.name})
    return rule


async def get_conversion_rule(
    cmd: commands.GetConversionRule, deps: Dependencies
) -> ConversionRule:
    name = served_name(names.parse_conversion_rule, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        rule = await uow.conversion_rules.get(name.workspace, name.id)
    if rule is None:
        raise NotFound(cmd.name)
    return rule


async def list_conversion_rules(
    cmd: commands.ListConversionRules, deps: Dependencies
) -> tuple[list[ConversionRule], str]:
    return await list_by_id(
        "ListConversionRules", cmd, deps, lambda uow: uow.conversion_rules, lambda r: r.rule_id
    )


async def update_conversion_rule(
    cmd: commands.UpdateConversionRule, deps: Dependencies
) -> ConversionRule:
    name = served_name(
        names.parse_conversion_rule, cmd.name, deps.workspaces, "conversion_rule.name"
    )
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")
    action_id = None
    if "action" in paths:
        field = "conversion_rule.action"
        if not cmd.rule.action:
            raise InvalidArgument(field, "is required")
        parsed = names.parse_action(cmd.rule.action, field)
        action_id = names.require_same_workspace(parsed, name.workspace, field).id
    live = await deps.live.get(name.workspace)
    async with deps.uow() as uow:
        current = await uow.conversion_rules.get(name.workspace, name.id)
        if current is None:
            raise NotFound(cmd.name)
        event_name = cmd.rule.event_name if "event_name" in paths else current.event_name
        window = cmd.rule.window if "window" in paths else current.window
        validate_conversion_rule(event_name, window)
        assert window is not None  # validated
        revised = dataclasses.replace(
            current,
            action_id=current.action_id if action_id is None else action_id,
            event_name=event_name,
            window=window,
        )
        if revised.action_id != current.action_id:
            known = live.action(revised.action_id) is not None
            if not known and await uow.actions.get(name.workspace, revised.action_id) is None:
                raise NotFound(cmd.rule.action)
        if revised != current:
            await uow.conversion_rules.replace(revised)
            await uow.commit()
    log.info("conversion rule updated", extra={"resource": revised.name})
    return revised


async def delete_conversion_rule(cmd: commands.DeleteConversionRule, deps: Dependencies) -> None:
    name = served_name(names.parse_conversion_rule, cmd.name, deps.workspaces)
    async with deps.uow() as uow:
        if not await uow.conversion_rules.delete(name.workspace, name.id):
            raise NotFound(cmd.name)
        await uow.commit()
    log.info("conversion rule deleted", extra={"resource": cmd.name})
