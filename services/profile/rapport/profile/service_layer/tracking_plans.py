"""Tracking plans: CRUD with revisions, violation counts, and the check of each
ingested event (validators compiled once per plan revision)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rapport.errors import AlreadyExists, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.domain import names
from rapport.profile.domain.model import IncomingEvent, Rejection, RejectionReason
from rapport.profile.domain.segments import check_resource_id
from rapport.profile.domain.tracking import (
    Enforcement,
    PlanCompiler,
    TrackingPlan,
    Violation,
    ViolationCount,
    check_plan,
)
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

# Validators compiled once per plan revision for this process (bounded).
PLANS = PlanCompiler()

_UPDATABLE = ("display_name", "enforcement", "event_schemas", "identify_schema")


@dataclass(frozen=True)
class PlanPage:
    plans: list[TrackingPlan]
    next_page_token: str


@dataclass(frozen=True)
class ViolationPage:
    counts: list[ViolationCount]
    next_page_token: str
    total: int


async def create_tracking_plan(
    cmd: commands.CreateTrackingPlan, deps: Dependencies
) -> TrackingPlan:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    if cmd.plan_id:
        check_resource_id(cmd.plan_id, "tracking_plan_id")
    plan_id = cmd.plan_id or "tp-" + uuid.uuid4().hex[:16]
    check_plan(
        cmd.display_name, cmd.enforcement, cmd.event_schemas, cmd.identify_schema, "tracking_plan"
    )
    now = deps.clock()
    plan = TrackingPlan(
        workspace,
        plan_id,
        cmd.display_name,
        cmd.enforcement,  # type: ignore[arg-type]  # checked
        dict(cmd.event_schemas),
        cmd.identify_schema,
        1,
        now,
        now,
    )
    async with deps.uow() as uow:
        if not await uow.tracking_plans.create(plan):
            raise AlreadyExists(names.tracking_plan_name(workspace, plan_id))
        await uow.commit()
    return plan


async def get_tracking_plan(cmd: commands.GetTrackingPlan, deps: Dependencies) -> TrackingPlan:
    ref = names.parse_tracking_plan(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        plan = await uow.tracking_plans.get(ref.workspace, ref.plan_id)
    if plan is None:
        raise NotFound(cmd.name)
    return plan


async def list_tracking_plans(cmd: commands.ListTrackingPlans, deps: Dependencies) -> PlanPage:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound = f"tracking-plans:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound)
    after = _position(position, "a", str)
    async with deps.uow(readonly=True) as uow:
        found = await uow.tracking_plans.list(workspace, after=after, limit=size + 1)
    page, token = paginate(
        found, size, lambda p: {"a": p.plan_id}, tokens=deps.page_tokens, bound_to=bound
    )
    return PlanPage(list(page), token)


async def update_tracking_plan(
    cmd: commands.UpdateTrackingPlan, deps: Dependencies
) -> TrackingPlan:
    ref = names.parse_tracking_plan(cmd.name, field="tracking_plan.name")
    require_workspace(ref.workspace, deps.workspaces)
    paths = list(cmd.update_mask) or list(_UPDATABLE)
    for i, path in enumerate(paths):
        if path not in _UPDATABLE:
            raise InvalidArgument(
                f"update_mask.paths[{i}]", f"must be one of {', '.join(_UPDATABLE)}"
            )
    changes: dict[str, Any] = {path: getattr(cmd, path) for path in paths}
    if "event_schemas" in changes:
        changes["event_schemas"] = dict(changes["event_schemas"])

    async def attempt(uow: ProfileUnitOfWork) -> TrackingPlan:
        plan = await uow.tracking_plans.get(ref.workspace, ref.plan_id, for_update=True)
        if plan is None:
            raise NotFound(cmd.name)
        updated = replace(
            plan, **changes, revision_id=plan.revision_id + 1, update_time=deps.clock()
        )
        check_plan(
            updated.display_name,
            updated.enforcement,
            updated.event_schemas,
            updated.identify_schema,
            "tracking_plan",
        )
        await uow.tracking_plans.update(updated)
        return updated

    return await run_with_retries(deps.uow, attempt)


async def delete_tracking_plan(cmd: commands.DeleteTrackingPlan, deps: Dependencies) -> None:
    ref = names.parse_tracking_plan(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow() as uow:
        if not await uow.tracking_plans.delete(ref.workspace, ref.plan_id):
            raise NotFound(cmd.name)
        await uow.commit()


async def list_tracking_plan_revisions(
    cmd: commands.ListTrackingPlanRevisions, deps: Dependencies
) -> PlanPage:
    ref = names.parse_tracking_plan(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound = f"tracking-plan-revisions:{cmd.name}"
    before = _position(deps.page_tokens.decode(cmd.page_token, bound_to=bound), "r", int)
    async with deps.uow(readonly=True) as uow:
        plan = await uow.tracking_plans.get(ref.workspace, ref.plan_id)
        if plan is None:
            raise NotFound(cmd.name)
        found = await uow.tracking_plans.revisions(plan, before=before, limit=size + 1)
    page, token = paginate(
        found, size, lambda p: {"r": p.revision_id}, tokens=deps.page_tokens, bound_to=bound
    )
    return PlanPage(list(page), token)


async def list_tracking_plan_violations(
    cmd: commands.ListTrackingPlanViolations, deps: Dependencies
) -> ViolationPage:
    ref = names.parse_tracking_plan(cmd.parent, field="parent")
    require_workspace(ref.workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound = f"tracking-plan-violations:{cmd.parent}"
    offset = _position(deps.page_tokens.decode(cmd.page_token, bound_to=bound), "o", int) or 0
    async with deps.uow(readonly=True) as uow:
        if await uow.tracking_plans.get(ref.workspace, ref.plan_id) is None:
            raise NotFound(cmd.parent)
        counts, total = await uow.tracking_plans.violation_counts(
            ref.workspace, ref.plan_id, offset=offset, limit=size + 1
        )
    token = ""
    if len(counts) > size:
        token = deps.page_tokens.encode({"o": offset + size}, bound_to=bound)
    return ViolationPage(counts[:size], token, total)


def _position(position: dict[str, Any] | None, key: str, kind: type) -> Any:
    if position is None:
        return None
    value = position.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidArgument("page_token", "is not a token returned by this method")
    return value


# -- at ingestion ---------------------------------------------------------------------


@dataclass
class PlanCheck:
    """The tracking plans' verdict on a batch's events (by index)."""

    rejected: dict[int, Rejection] = field(default_factory=dict)
    # (index, violation): counted when the event was accepted or blocked.
    violations: list[tuple[int, Violation]] = field(default_factory=list)


async def check_events(
    uow: ProfileUnitOfWork, workspace: str, events: Mapping[int, IncomingEvent]
) -> PlanCheck:
    """Check each event against every plan of the workspace; an event breaking a BLOCK
    plan is rejected, naming the first offending field."""
    verdict = PlanCheck()
    plans = await uow.tracking_plans.all_of(workspace)
    if not plans:
        return verdict
    compiled = [PLANS.compiled(plan) for plan in plans]
    for index, event in events.items():
        for plan in compiled:
            found = plan.check(event)
            if not found:
                continue
            verdict.violations.extend((index, v) for v in found)
            if plan.plan.enforcement is Enforcement.BLOCK and index not in verdict.rejected:
                first = found[0]
                verdict.rejected[index] = Rejection(
                    f"events[{index}].{first.field}",
                    RejectionReason.TRACKING_PLAN_VIOLATION,
                    f"tracking plan {plan.plan.plan_id}: {first.description}"[:1000],
                )
    return verdict


async def count_violations(
    deps: Dependencies,
    workspace: str,
    violations: Sequence[tuple[int, Violation]],
    message_ids: Mapping[int, str],
    counted: set[int],
) -> None:
    """Add the violations of the events in ``counted`` to the plans' counts."""
    kept = [(v, message_ids[i]) for i, v in violations if i in counted]
    if not kept:
        return
    now = deps.clock()

    async def attempt(uow: ProfileUnitOfWork) -> None:
        await uow.tracking_plans.count_violations(workspace, kept, now)

    await run_with_retries(deps.uow, attempt)
