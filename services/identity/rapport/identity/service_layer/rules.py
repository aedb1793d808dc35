"""Identity rules of a workspace: GetIdentityRules, UpdateIdentityRules (cache: rules_cache.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rapport.errors import InvalidArgument
from rapport.identity.domain import names
from rapport.identity.domain.model import ChangeKind, IdentityChange
from rapport.identity.domain.rules import IdentityRules, validate_rules
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies
from .unit_of_work import IdentityUnitOfWork, with_retries

UPDATABLE_PATHS = ("identifier_types", "matching")


@dataclass(frozen=True)
class WorkspaceRules:
    workspace: str
    rules: IdentityRules

    @property
    def name(self) -> str:
        return names.identity_rules_name(self.workspace)


async def get_identity_rules(cmd: commands.GetIdentityRules, deps: Dependencies) -> WorkspaceRules:
    workspace = names.parse_identity_rules(cmd.name, field="name")
    require_workspace(workspace, deps.workspaces)
    return WorkspaceRules(workspace, await deps.rules.get(workspace))


async def update_identity_rules(
    cmd: commands.UpdateIdentityRules, deps: Dependencies
) -> WorkspaceRules:
    """Replace the masked parts of the rules; everything is validated before storing."""
    workspace = names.parse_identity_rules(cmd.name, field="identity_rules.name")
    require_workspace(workspace, deps.workspaces)
    paths = _paths(cmd.update_mask)

    async def work(uow: IdentityUnitOfWork) -> IdentityRules:
        updated = await deps.rules.read(uow, workspace)
        if "identifier_types" in paths:
            updated = replace(updated, identifier_types=cmd.identity_rules.identifier_types)
        if "matching" in paths:
            updated = replace(updated, matching=cmd.identity_rules.matching)
        updated = validate_rules(updated)
        now = deps.clock()
        await uow.rules.put(workspace, updated, now)
        # Followers (profile's identity cache) drop answers given under the old rules.
        await uow.lifecycle.append_changes(
            workspace, [IdentityChange(ChangeKind.RULES_UPDATED, "")], now
        )
        uow.changes.record(workspace, (), logged=True)
        return replace(updated, update_time=now)

    # Two first updates of a workspace race to insert its row: the loser is redone.
    stored = await with_retries(deps.uow_factory, work)
    deps.rules.put(workspace, stored)
    return WorkspaceRules(workspace, stored)


def _paths(mask: Sequence[str]) -> set[str]:
    if not mask:
        return set(UPDATABLE_PATHS)
    for path in mask:
        if path not in UPDATABLE_PATHS:
            raise InvalidArgument(
                "update_mask", f"unknown path; updatable: {', '.join(UPDATABLE_PATHS)}"
            )
    return set(mask)
