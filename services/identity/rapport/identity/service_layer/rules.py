"""Identity rules: GetIdentityRules, UpdateIdentityRules, and the per-process rules cache."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rapport.errors import InvalidArgument
from rapport.identity.adapters.rules_repository import RulesRepository
from rapport.identity.domain.rules import IdentityRules, validate_rules
from rapport.resourcenames import parse_name, require_workspace

if TYPE_CHECKING:
    from .handlers import IdentityContext
    from .unit_of_work import IdentityUnitOfWork

IDENTITY_RULES = "workspaces/{workspace}/identityRules"
UPDATABLE_PATHS = ("identifier_types", "matching")
# Replicas pick up another replica's update within this many seconds.
MAX_AGE_SECONDS = 2.0


@dataclass(frozen=True)
class GetIdentityRules:
    name: str


@dataclass(frozen=True)
class UpdateIdentityRules:
    name: str
    identity_rules: IdentityRules
    update_mask: tuple[str, ...] = ()


class RulesCache:
    """Each workspace's rules, re-read when older than ``max_age`` seconds."""

    def __init__(
        self,
        uow_factory: Callable[..., IdentityUnitOfWork],
        defaults: IdentityRules,
        *,
        default_phone_region: str,
        max_age: float = MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self.defaults = defaults
        self._region = default_phone_region
        self._max_age = max_age
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, IdentityRules]] = {}

    async def get(self, workspace: str) -> IdentityRules:
        entry = self._entries.get(workspace)
        now = self._monotonic()
        if entry is not None and now - entry[0] < self._max_age:
            return entry[1]
        async with self._uow_factory(readonly=True) as uow:
            stored = await RulesRepository(uow.connection).get(
                workspace, default_phone_region=self._region
            )
        rules = stored or self.defaults
        self._entries[workspace] = (now, rules)
        return rules

    def put(self, workspace: str, rules: IdentityRules) -> None:
        self._entries[workspace] = (self._monotonic(), rules)


async def get_identity_rules(
    command: GetIdentityRules, ctx: IdentityContext
) -> tuple[str, IdentityRules]:
    workspace = parse_name(IDENTITY_RULES, command.name, field="name")["workspace"]
    require_workspace(workspace, ctx.workspaces)
    return command.name, await ctx.rules.get(workspace)


async def update_identity_rules(
    command: UpdateIdentityRules, ctx: IdentityContext
) -> tuple[str, IdentityRules]:
    """Replace the masked parts of the rules; everything is validated before storing."""
    workspace = parse_name(IDENTITY_RULES, command.name, field="identity_rules.name")["workspace"]
    require_workspace(workspace, ctx.workspaces)
    paths = _paths(command.update_mask)
    async with ctx.uow_factory(readonly=False) as uow:
        repository = RulesRepository(uow.connection)
        current = (
            await repository.get(workspace, default_phone_region=ctx.default_phone_region)
            or ctx.rules.defaults
        )
        updated = current
        if "identifier_types" in paths:
            updated = replace(updated, identifier_types=command.identity_rules.identifier_types)
        if "matching" in paths:
            updated = replace(updated, matching=command.identity_rules.matching)
        updated = validate_rules(updated)
        now = ctx.clock()
        await repository.put(workspace, updated, now)
        await uow.commit()
    stored = replace(updated, update_time=now)
    ctx.rules.put(workspace, stored)
    return command.name, stored


def _paths(mask: Sequence[str]) -> set[str]:
    if not mask:
        return set(UPDATABLE_PATHS)
    for path in mask:
        if path not in UPDATABLE_PATHS:
            raise InvalidArgument(
                "update_mask", f"unknown path; updatable: {', '.join(UPDATABLE_PATHS)}"
            )
    return set(mask)
