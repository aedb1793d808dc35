"""Use cases of experiments: create, get, list, update, delete, report.

Experiments are not part of the versioned configuration: they take effect at once
on the replica that created them, on the others within `config_refresh_seconds`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from rapport.decisioning.domain import names
from rapport.decisioning.domain.checks import validate_resource_id
from rapport.decisioning.domain.experiments import (
    Arm,
    Experiment,
    ExperimentDraft,
    Interval,
    Strategy,
    revise,
    uplift,
    validate_new_experiment,
    wilson,
)
from rapport.decisioning.domain.model import OutcomeType
from rapport.errors import AlreadyExists, InvalidArgument, NotFound

from . import commands
from .dependencies import Dependencies
from .draft import mask_paths
from .listing import list_by_id
from .request_checks import served_name, served_workspace
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

MAX_EXPERIMENTS = 100


def _strategy(value: Strategy | commands.UnknownEnumValue | None, field: str) -> Strategy:
    if value is None:
        raise InvalidArgument(field, "is required")
    if isinstance(value, commands.UnknownEnumValue):
        raise InvalidArgument(field, "is not a known strategy")
    return value


def _arms(cmd: commands.CreateExperiment) -> tuple[Arm, ...]:
    return tuple(
        Arm(arm_id, _strategy(strategy, f"experiment.arms[{index}].strategy"), weight)
        for index, (arm_id, strategy, weight) in enumerate(cmd.arms)
    )


def _action_ids(actions: tuple[str, ...], workspace: str) -> tuple[str, ...]:
    ids = []
    for index, action in enumerate(actions):
        field = f"experiment.actions[{index}]"
        ids.append(
            names.require_same_workspace(names.parse_action(action, field), workspace, field).id
        )
    return tuple(ids)


UPDATABLE = ("display_name", "actions", "arms", "start_time", "end_time")


def _draft(
    cmd: commands.CreateExperiment, workspace: str, paths: Collection[str]
) -> ExperimentDraft:
    """The request's values of ``paths`` (the others left empty, unread)."""
    return ExperimentDraft(
        display_name=cmd.display_name,
        action_ids=_action_ids(cmd.actions, workspace) if "actions" in paths else (),
        arms=_arms(cmd) if "arms" in paths else (),
        start_time=cmd.start_time,
        end_time=cmd.end_time,
    )


async def _require_actions(
    uow: DecisioningUnitOfWork,
    deps: Dependencies,
    workspace: str,
    action_ids: tuple[str, ...],
    names_given: tuple[str, ...],
) -> None:
    """NotFound naming the first action in neither the live configuration nor the draft."""
    live = await deps.live.get(workspace)
    for index, action_id in enumerate(action_ids):
        if live.action(action_id) is None and await uow.actions.get(workspace, action_id) is None:
            raise NotFound(names_given[index])


async def create_experiment(cmd: commands.CreateExperiment, deps: Dependencies) -> Experiment:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    validate_resource_id(cmd.experiment_id, "experiment_id")
    now = deps.clock()
    draft = validate_new_experiment(_draft(cmd, workspace, UPDATABLE), now)
    experiment = Experiment(
        workspace=workspace,
        experiment_id=cmd.experiment_id,
        display_name=draft.display_name,
        action_ids=draft.action_ids,
        arms=draft.arms,
        start_time=draft.start_time,
        end_time=draft.end_time,
        create_time=now,
    )
    async with deps.uow() as uow:
        await _require_actions(uow, deps, workspace, draft.action_ids, cmd.actions)
        if await uow.experiments.get(workspace, cmd.experiment_id) is not None:
            raise AlreadyExists(experiment.name)
        if len(await uow.experiments.all(workspace)) >= MAX_EXPERIMENTS:
            raise InvalidArgument("parent", f"holds {MAX_EXPERIMENTS} experiments already")
        await uow.experiments.add(experiment)
        await uow.commit()
    deps.experiments.forget(workspace)
    log.info("experiment created", extra={"resource": experiment.name})
    return experiment


async def get_experiment(cmd: commands.GetExperiment, deps: Dependencies) -> Experiment:
    name = served_name(names.parse_experiment, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        experiment = await uow.experiments.get(name.workspace, name.id)
    if experiment is None:
        raise NotFound(cmd.name)
    return experiment


async def list_experiments(
    cmd: commands.ListExperiments, deps: Dependencies
) -> tuple[list[Experiment], str]:
    return await list_by_id(
        "ListExperiments", cmd, deps, lambda uow: uow.experiments, lambda e: e.experiment_id
    )


async def update_experiment(cmd: commands.UpdateExperiment, deps: Dependencies) -> Experiment:
    name = served_name(names.parse_experiment, cmd.name, deps.workspaces, "experiment.name")
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")
    update = _draft(cmd.experiment, name.workspace, paths)
    async with deps.uow() as uow:
        current = await uow.experiments.get(name.workspace, name.id)
        if current is None:
            raise NotFound(cmd.name)
        revised = revise(current, update, paths, deps.clock())
        if revised.action_ids != current.action_ids:
            await _require_actions(
                uow, deps, name.workspace, revised.action_ids, cmd.experiment.actions
            )
        if revised != current:
            await uow.experiments.replace(revised)
            await uow.commit()
    deps.experiments.forget(name.workspace)
    log.info("experiment updated", extra={"resource": revised.name})
    return revised


async def delete_experiment(cmd: commands.DeleteExperiment, deps: Dependencies) -> None:
    name = served_name(names.parse_experiment, cmd.name, deps.workspaces)
    async with deps.uow() as uow:
        if not await uow.experiments.delete(name.workspace, name.id):
            raise NotFound(cmd.name)
        await uow.commit()
    deps.experiments.forget(name.workspace)
    log.info("experiment deleted", extra={"resource": cmd.name})


@dataclass(frozen=True)
class OutcomeTally:
    type: OutcomeType
    customers: int
    count: int


@dataclass(frozen=True)
class ArmReport:
    """One arm's figures, by intent to treat: every customer the arm was assigned to
    counts, whether or not its decisions returned the experiment's actions."""

    arm: Arm
    # Customers assigned to the arm by at least one decision (see experiments.converts).
    reach: int
    decisions: int
    outcomes: tuple[OutcomeTally, ...]
    # Customers of `reach` with a conversion of one of the experiment's actions.
    conversions: int
    conversion_rate: Interval
    conversion_value: float
    # None for the control arm and when there is none.
    uplift: Interval | None
    # Secondary, not comparable across arms (arbitration decides who is shown): customers
    # to whom a decision of the arm returned one of the experiment's actions, and those
    # of them with a conversion.
    exposed_reach: int
    exposed_conversions: int


@dataclass(frozen=True)
class ExperimentReport:
    experiment: Experiment
    arms: tuple[ArmReport, ...]
    compute_time: datetime


async def get_experiment_report(
    cmd: commands.GetExperimentReport, deps: Dependencies
) -> ExperimentReport:
    name = served_name(names.parse_experiment, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        experiment = await uow.experiments.get(name.workspace, name.id)
        if experiment is None:
            raise NotFound(cmd.name)
        reach = await uow.decisions.experiment_reach(name.workspace, name.id)
        # Outcomes of the other actions a decision returned say nothing of the experiment:
        # counted, they would credit a treated arm with another action's conversions.
        actions = [names.action_name(name.workspace, a) for a in experiment.action_ids]
        counts = await uow.outcomes.experiment_counts(name.workspace, name.id, actions)
        exposed = await uow.decisions.experiment_exposed(name.workspace, name.id, actions)
        converted_customers = await uow.outcomes.experiment_converted(
            name.workspace, name.id, actions
        )
    by_arm: dict[str, list[tuple[OutcomeType, int, int, float]]] = {}
    for arm_id, kind, customers, count, value in counts:
        by_arm.setdefault(arm_id, []).append((kind, customers, count, value))

    def conversions(arm_id: str) -> tuple[int, float]:
        for kind, customers, _count, value in by_arm.get(arm_id, ()):
            if kind is OutcomeType.CONVERSION:
                return customers, value
        return 0, 0.0

    control = next((a for a in experiment.arms if a.strategy is Strategy.CONTROL), None)
    control_trials = reach.get(control.arm_id, (0, 0))[0] if control else 0
    control_successes = min(conversions(control.arm_id)[0], control_trials) if control else 0
    arms = []
    for arm in experiment.arms:
        customers, decisions = reach.get(arm.arm_id, (0, 0))
        converted, value = conversions(arm.arm_id)
        # A conversion of a decision outside the experiment's window cannot be
        # counted twice: conversions are distinct customers of the arm's decisions.
        converted = min(converted, customers)
        lift = None
        if control is not None and arm is not control:
            lift = uplift((converted, customers), (control_successes, control_trials))
        arms.append(
            ArmReport(
                arm=arm,
                reach=customers,
                decisions=decisions,
                outcomes=tuple(
                    OutcomeTally(kind, c, n)
                    for kind, c, n, _v in sorted(
                        by_arm.get(arm.arm_id, ()), key=lambda item: item[0].value
                    )
                ),
                conversions=converted,
                conversion_rate=wilson(converted, customers),
                conversion_value=value,
                uplift=lift,
                exposed_reach=len(exposed.get(arm.arm_id, ())),
                exposed_conversions=len(
                    exposed.get(arm.arm_id, set()) & converted_customers.get(arm.arm_id, set())
                ),
            )
        )
    return ExperimentReport(experiment, tuple(arms), deps.clock())
