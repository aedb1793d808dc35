"""Use cases of the draft's decision settings (contact policies, arbitration): get, update."""

from __future__ import annotations

import dataclasses
import logging

from rapport.decisioning.domain import names
from rapport.decisioning.domain.policies import DecisionSettings, settings_draft
from rapport.decisioning.domain.settings_validation import validate_settings
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies
from .draft import edit_draft, mask_paths
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

UPDATABLE = frozenset(
    {
        "contact_limits",
        "suppression_rules",
        "arbitration",
        "arbitration.priority_parts",
        "arbitration.context_weights",
    }
)


async def get_settings(cmd: commands.GetDecisionSettings, deps: Dependencies) -> DecisionSettings:
    workspace = names.parse_settings(cmd.name, "name")
    require_workspace(workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        return await uow.draft.settings(workspace)


async def update_settings(
    cmd: commands.UpdateDecisionSettings, deps: Dependencies
) -> DecisionSettings:
    workspace = names.parse_settings(cmd.name, "decision_settings.name")
    require_workspace(workspace, deps.workspaces)
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")

    async def change(uow: DecisioningUnitOfWork) -> DecisionSettings:
        draft = settings_draft(await uow.draft.settings(workspace))
        for part in ("contact_limits", "suppression_rules", "arbitration"):
            if part in paths:
                draft = dataclasses.replace(draft, **{part: getattr(cmd.draft, part)})
        for part in ("priority_parts", "context_weights"):
            if f"arbitration.{part}" in paths and "arbitration" not in paths:
                arbitration = dataclasses.replace(
                    draft.arbitration, **{part: getattr(cmd.draft.arbitration, part)}
                )
                draft = dataclasses.replace(draft, arbitration=arbitration)
        now = deps.clock()
        settings = dataclasses.replace(validate_settings(draft, deps.rules), update_time=now)
        await uow.draft.put_settings(workspace, settings, now)
        return settings

    settings = await edit_draft(deps, workspace, change)
    log.info("decision settings updated", extra={"workspace": workspace})
    return settings
