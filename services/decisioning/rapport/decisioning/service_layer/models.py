"""Models: create, read, update, delete; learning from outcomes.

Learning (RecordOutcome, in the outcome's transaction): for an action a decision
returned, with the features the decision recorded, each bandit model of the workspace
adds one observation. The first exposure outcome (impression or reject) counts the
action as shown; the first outcome of the model's reward type adds reward 1 (and
counts as shown when nothing did before). Repeats add nothing. Each observation added
is recorded as a contribution of the customer, so that erasing the customer subtracts
it again (customer_data.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rapport.decisioning.adapters.model_contributions import Contribution
from rapport.decisioning.adapters.onnx_predictor import OnnxPredictor
from rapport.decisioning.domain import names
from rapport.decisioning.domain.features import hashed
from rapport.decisioning.domain.learning import (
    DEFAULT_DIMENSIONS,
    DEFAULT_EXPLORATION,
    DEFAULT_PRIOR_PRECISION,
    EXPOSURE_OUTCOMES,
    ModelKind,
    ModelMode,
    ModelSpec,
    validate_spec,
)
from rapport.decisioning.domain.model import Outcome, OutcomeType
from rapport.decisioning.domain.onnx_scoring import ModelScoringError
from rapport.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from rapport.sqlstore import advisory_key, advisory_xact_locks, run_with_retries

from . import model_commands as commands
from .commands import UnknownEnumValue
from .dependencies import Dependencies
from .draft import mask_paths
from .listing import list_by_id
from .model_cache import restrict_features
from .request_checks import served_name, served_workspace
from .unit_of_work import DecisioningUnitOfWork

UPDATABLE = (
    "display_name", "description", "mode", "features", "dimensions", "exploration",
    "prior_precision", "reward_outcome", "onnx_model",
)  # fmt: skip


# -- learning ------------------------------------------------------------------------------


def observation(
    spec: ModelSpec, outcome: OutcomeType, earlier: set[OutcomeType]
) -> tuple[bool, float] | None:
    """(counts as shown, reward) for this model, None when the outcome adds nothing."""
    shown = bool(earlier & (EXPOSURE_OUTCOMES | {spec.reward_outcome}))
    if outcome is spec.reward_outcome:
        return None if spec.reward_outcome in earlier else (not shown, 1.0)
    if outcome in EXPOSURE_OUTCOMES and not shown:
        return True, 0.0
    return None


def contribution_of(
    outcome: Outcome,
    customer: str,
    spec: ModelSpec,
    action_id: str,
    exposed: bool,
    reward: float,
    now: datetime,
) -> Contribution:
    """What one outcome added to a model's statistics, kept so an erasure can take it
    back; `customer`: whose profile and context the decision's features came from."""
    return Contribution(
        workspace=outcome.workspace,
        outcome_id=outcome.outcome_id,
        model_id=spec.model_id,
        action_id=action_id,
        customer=customer,
        decision_id=outcome.decision_id,
        exposed=exposed,
        reward=reward,
        create_time=now,
    )


async def learn_from_outcome(uow: DecisioningUnitOfWork, outcome: Outcome, now: datetime) -> bool:
    """Add the outcome to every bandit of the workspace, before the outcome is stored, in
    its transaction; True when a statistic changed."""
    if not outcome.decision_id:
        return False
    decision = await uow.decisions.get(outcome.workspace, outcome.decision_id)
    if decision is None or not decision.features:
        return False
    if not any(r.action == outcome.action for r in decision.actions):
        return False
    specs = [s for s in await uow.models.list_all(outcome.workspace) if s.kind is ModelKind.BANDIT]
    if not specs:
        return False
    action_id = names.parse_action(outcome.action, "outcome.action").id
    await uow.models.lock_statistics(
        outcome.workspace, [(spec.model_id, action_id) for spec in specs]
    )
    key = (outcome.decision_id, outcome.action)
    earlier = (await uow.outcomes.earlier_types(outcome.workspace, {key})).get(key, set())
    changed = False
    for spec in specs:
        observed = observation(spec, outcome.type, earlier)
        if observed is None:
            continue
        exposed, reward = observed
        x = hashed(restrict_features(decision.features, spec.features), spec.dimensions)
        if not await uow.models.add_observation(
            spec, action_id, x, exposed=exposed, reward=reward, now=now
        ):
            continue  # reset meanwhile: nothing added, nothing to erase later
        changed = True
        contribution = contribution_of(
            outcome, decision.customer, spec, action_id, exposed, reward, now
        )
        await uow.models.contributions.add(contribution, x)
    return changed


# -- use cases -----------------------------------------------------------------------------


def _enum(value: Any, kind: type, field: str) -> Any:
    if value is None:
        raise InvalidArgument(field, "is required")
    if isinstance(value, UnknownEnumValue) or not isinstance(value, kind):
        raise InvalidArgument(field, f"is not a known {kind.__name__}")
    return value


def _spec(
    workspace: str,
    model_id: str,
    fields: commands.ModelFields,
    now: datetime,
    base: ModelSpec | None,
) -> ModelSpec:
    kind = base.kind if base is not None else _enum(fields.kind, ModelKind, "model.kind")
    spec = ModelSpec(
        workspace=workspace,
        model_id=model_id,
        kind=kind,
        mode=_enum(fields.mode, ModelMode, "model.mode"),
        display_name=fields.display_name,
        description=fields.description,
        features=tuple(fields.features),
        dimensions=fields.dimensions or DEFAULT_DIMENSIONS,
        exploration=DEFAULT_EXPLORATION if fields.exploration is None else fields.exploration,
        prior_precision=fields.prior_precision or DEFAULT_PRIOR_PRECISION,
        reward_outcome=(
            OutcomeType.CONVERSION
            if fields.reward_outcome is None
            else _enum(fields.reward_outcome, OutcomeType, "model.reward_outcome")
        ),
        create_time=base.create_time if base is not None else now,
        update_time=now,
        onnx_model=fields.onnx_model,
    )
    validate_spec(spec)
    if spec.kind is ModelKind.ONNX:
        try:
            OnnxPredictor(spec.onnx_model, len(spec.features))
        except ModelScoringError as err:
            raise InvalidArgument("model.onnx_model", str(err)) from err
    return spec


async def _one_active(uow: DecisioningUnitOfWork, spec: ModelSpec) -> None:
    await advisory_xact_locks(uow.connection, [advisory_key("models", spec.workspace)])
    if spec.mode is not ModelMode.ACTIVE:
        return
    others = [m for m in await uow.models.active_ids(spec.workspace) if m != spec.model_id]
    if others:
        raise FailedPrecondition(
            "ACTIVE_MODEL_EXISTS",
            f"{names.model_name(spec.workspace, others[0])} is the workspace's active model; "
            "make it SHADOW first (one active model per workspace)",
            metadata={"model": names.model_name(spec.workspace, others[0])},
        )


async def create_model(cmd: commands.CreateModel, deps: Dependencies) -> ModelSpec:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    spec = _spec(workspace, cmd.model_id, cmd.model, deps.clock(), None)

    async def create(uow: DecisioningUnitOfWork) -> ModelSpec:
        await _one_active(uow, spec)
        if not await uow.models.add(spec):
            raise AlreadyExists(spec.name)
        await uow.models.reset_statistics(workspace, spec.model_id)
        stored = await uow.models.get(workspace, spec.model_id)
        await uow.commit()
        assert stored is not None
        return stored

    created = await run_with_retries(deps.uow, create, description="models changed; retry")
    deps.models.forget(workspace)
    return created


async def get_model(cmd: commands.GetModel, deps: Dependencies) -> ModelSpec:
    name = served_name(names.parse_model, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        spec = await uow.models.get(name.workspace, name.id)
    if spec is None:
        raise NotFound(cmd.name)
    return spec


async def list_models(cmd: commands.ListModels, deps: Dependencies) -> tuple[list[ModelSpec], str]:
    return await list_by_id("ListModels", cmd, deps, lambda uow: uow.models, lambda m: m.model_id)


async def update_model(cmd: commands.UpdateModel, deps: Dependencies) -> ModelSpec:
    name = served_name(names.parse_model, cmd.name, deps.workspaces, "model.name")
    paths = mask_paths(cmd.mask, UPDATABLE, "update_mask")
    now = deps.clock()

    async def change(uow: DecisioningUnitOfWork) -> ModelSpec:
        current = await uow.models.get(name.workspace, name.id, for_update=True)
        if current is None:
            raise NotFound(cmd.name)
        given = {path: getattr(cmd.model, path) for path in paths}
        merged = commands.ModelFields(
            kind=current.kind,
            mode=given.get("mode", current.mode),
            display_name=given.get("display_name", current.display_name),
            description=given.get("description", current.description),
            features=tuple(given.get("features", current.features)),
            dimensions=given.get("dimensions", current.dimensions),
            exploration=given.get("exploration", current.exploration),
            prior_precision=given.get("prior_precision", current.prior_precision),
            reward_outcome=given.get("reward_outcome", current.reward_outcome),
            onnx_model=given.get("onnx_model")
            or (await uow.models.onnx_model(name.workspace, name.id) or b""),
        )
        spec = _spec(name.workspace, name.id, merged, now, current)
        await _one_active(uow, spec)
        await uow.models.replace(spec)
        if spec.learning_signature != current.learning_signature:
            # Other features or dimensions: what was learnt no longer applies.
            await uow.models.reset_statistics(name.workspace, name.id)
        stored = await uow.models.get(name.workspace, name.id)
        await uow.commit()
        assert stored is not None
        return stored

    updated = await run_with_retries(deps.uow, change, description="models changed; retry")
    deps.models.forget(name.workspace)
    return updated


async def delete_model(cmd: commands.DeleteModel, deps: Dependencies) -> None:
    name = served_name(names.parse_model, cmd.name, deps.workspaces)
    async with deps.uow() as uow:
        if not await uow.models.delete(name.workspace, name.id):
            raise NotFound(cmd.name)
        await uow.commit()
    deps.models.forget(name.workspace)
