"""Editing the draft: one locked unit of work per edit, the draft read whole, field masks."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

from rapport.decisioning.domain.config import (
    MAX_ACTIONS,
    MAX_GROUPS,
    MAX_TRIGGERS,
    DecisionConfig,
)
from rapport.errors import FailedPrecondition, InvalidArgument
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .unit_of_work import DecisioningUnitOfWork

T = TypeVar("T")
D = TypeVar("D")

# The fields every resource has that no update sets.
OUTPUT_ONLY_PATHS = frozenset({"name", "create_time", "update_time"})


async def edit_draft(
    deps: Dependencies,
    workspace: str,
    work: Callable[[DecisioningUnitOfWork], Awaitable[T]],
) -> T:
    """`work` in a unit of work holding the draft's lock, committed; redone on a lost race."""

    async def locked(uow: DecisioningUnitOfWork) -> T:
        await uow.draft.lock(workspace)
        return await work(uow)

    return await run_with_retries(
        deps.uow, locked, description="the draft kept changing under this edit; retry it"
    )


async def read_draft(uow: DecisioningUnitOfWork, workspace: str) -> DecisionConfig:
    return DecisionConfig(
        workspace=workspace,
        actions=tuple(await uow.actions.list_all(workspace)),
        groups=tuple(await uow.groups.list_all(workspace)),
        triggers=tuple(await uow.triggers.list_all(workspace)),
        settings=await uow.draft.settings(workspace),
    )


async def replace_draft(uow: DecisioningUnitOfWork, config: DecisionConfig) -> None:
    """Make the draft exactly `config` (under the draft's lock)."""
    workspace = config.workspace
    for repository in (uow.triggers, uow.actions, uow.groups):
        await repository.delete_all(workspace)
    for group in config.groups:
        await uow.groups.add(group)
    for action in config.actions:
        await uow.actions.add(action)
    for trigger in config.triggers:
        await uow.triggers.add(trigger)
    if config.settings.update_time is None:
        await uow.draft.reset_settings(workspace)
    else:
        await uow.draft.put_settings(workspace, config.settings, config.settings.update_time)


def check_size(config: DecisionConfig, field: str) -> None:
    """A configuration is cached and published whole: its size is bounded."""
    for items, limit, kind in (
        (config.actions, MAX_ACTIONS, "actions"),
        (config.groups, MAX_GROUPS, "action groups"),
        (config.triggers, MAX_TRIGGERS, "triggers"),
    ):
        if len(items) > limit:
            raise InvalidArgument(field, f"a workspace holds at most {limit} {kind}")


def check_room(count: int, limit: int, kind: str) -> None:
    if count >= limit:
        raise FailedPrecondition("CONFIG_TOO_LARGE", f"a workspace holds at most {limit} {kind}")


def mask_paths(mask: commands.FieldMask, updatable: Collection[str], field: str) -> set[str]:
    """The paths to update (AIP-134): the mask's, all for `*`, the fields set when empty.

    Output-only fields named in a mask are ignored; any other unknown path is refused.
    """
    if not mask.paths:
        return {path for path in mask.populated if path in updatable}
    if mask.paths == ("*",):
        return set(updatable)
    paths = set()
    for index, path in enumerate(mask.paths):
        if path in OUTPUT_ONLY_PATHS:
            continue
        if path not in updatable:
            raise InvalidArgument(
                f"update_mask.paths[{index}]",
                f"is not a field that can be updated ({', '.join(sorted(updatable))})",
            )
        paths.add(path)
    return paths


def apply_paths(current: D, update: D, paths: Collection[str], attributes: Mapping[str, str]) -> D:
    """`current` with the attributes of `paths` (by `attributes`, else the path) from `update`."""
    changes: dict[str, Any] = {}
    for path in paths:
        if "." in path:
            continue  # sub-fields: the caller's business
        attribute = attributes.get(path, path)
        changes[attribute] = getattr(update, attribute)
    return dataclasses.replace(current, **changes)  # type: ignore[type-var]
