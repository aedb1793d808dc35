"""Protobuf <-> models for the DecisioningService servicer."""

from __future__ import annotations

from rapport.decisioning.domain.evaluation import Estimate, Evaluation
from rapport.decisioning.domain.learning import ModelKind, ModelMode, ModelSpec
from rapport.decisioning.domain.model import Channel
from rapport.decisioning.service_layer import model_commands as commands
from rapport.decisioning.service_layer.simulation import Simulation
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.wellknowntypes import to_datetime, to_dict

from .converters import (
    _specified,
    channel_to_proto,
    field_mask,
    optional_channel_from_proto,
    outcome_type_from_proto,
    outcome_type_to_proto,
)
from .converters import timestamp as _timestamp


def _kind(value: int) -> ModelKind | None:
    return {pb.MODEL_KIND_BANDIT: ModelKind.BANDIT, pb.MODEL_KIND_ONNX: ModelKind.ONNX}.get(value)


def _mode(value: int) -> ModelMode | None:
    return {pb.MODEL_MODE_ACTIVE: ModelMode.ACTIVE, pb.MODEL_MODE_SHADOW: ModelMode.SHADOW}.get(
        value
    )


_KIND_TO_PROTO = {ModelKind.BANDIT: pb.MODEL_KIND_BANDIT, ModelKind.ONNX: pb.MODEL_KIND_ONNX}
_MODE_TO_PROTO = {ModelMode.ACTIVE: pb.MODEL_MODE_ACTIVE, ModelMode.SHADOW: pb.MODEL_MODE_SHADOW}


def model_fields(model: pb.Model) -> commands.ModelFields:
    return commands.ModelFields(
        kind=_specified(model.kind, _kind),
        mode=_specified(model.mode, _mode),
        display_name=model.display_name,
        description=model.description,
        features=tuple(model.features),
        dimensions=model.dimensions,
        exploration=model.exploration or None,
        prior_precision=model.prior_precision,
        reward_outcome=_specified(model.reward_outcome, outcome_type_from_proto),
        onnx_model=model.onnx_model,
    )


def create_model_command(request: pb.CreateModelRequest) -> commands.CreateModel:
    return commands.CreateModel(
        parent=request.parent, model_id=request.model_id, model=model_fields(request.model)
    )


def update_model_command(request: pb.UpdateModelRequest) -> commands.UpdateModel:
    return commands.UpdateModel(
        name=request.model.name,
        model=model_fields(request.model),
        mask=field_mask(request.model, request.update_mask),
    )


def model_to_proto(spec: ModelSpec) -> pb.Model:
    return pb.Model(
        name=spec.name,
        kind=_KIND_TO_PROTO[spec.kind],
        mode=_MODE_TO_PROTO[spec.mode],
        display_name=spec.display_name,
        description=spec.description,
        features=list(spec.features),
        dimensions=spec.dimensions,
        exploration=spec.exploration,
        prior_precision=spec.prior_precision,
        reward_outcome=outcome_type_to_proto(spec.reward_outcome),
        create_time=_timestamp(spec.create_time),
        update_time=_timestamp(spec.update_time),
        onnx_sha256=spec.onnx_sha256,
    )


def simulate_command(request: pb.SimulateDecisionsRequest) -> commands.SimulateDecisions:
    return commands.SimulateDecisions(
        parent=request.parent,
        config_version=request.config_version,
        customers=tuple(request.customers),
        segment=request.segment,
        sample_size=request.sample_size,
        context=to_dict(request, "context") or {},
        channel=optional_channel_from_proto(request.channel),
        max_actions=request.max_actions,
        placement=request.placement,
        device=request.device,
    )


def simulation_to_proto(simulation: Simulation) -> pb.SimulateDecisionsResponse:
    summary = simulation.summary
    assert summary.chosen is not None and summary.first is not None
    assert summary.channel_customers is not None and summary.channel_actions is not None
    assert summary.exclusions is not None
    return pb.SimulateDecisionsResponse(
        config_version=simulation.config_version,
        customer_count=summary.customer_count,
        skipped_customers=list(simulation.skipped),
        reached_count=summary.reached_count,
        actions=[
            pb.SimulatedAction(
                action=action,
                chosen_count=summary.chosen[action],
                first_count=summary.first[action],
            )
            for action in simulation.actions
        ],
        channels=[
            pb.ChannelReach(
                channel=channel_to_proto(Channel(channel)),
                customer_count=summary.channel_customers[channel],
                action_count=summary.channel_actions[channel],
            )
            for channel in sorted(summary.channel_actions)
        ],
        exclusions=[
            pb.ExclusionCount(reason=reason, count=count)
            for reason, count in sorted(summary.exclusions.items())
        ],
    )


def evaluate_command(request: pb.EvaluatePolicyRequest) -> commands.EvaluatePolicy:
    return commands.EvaluatePolicy(
        parent=request.parent,
        model=request.model,
        start_time=to_datetime(request, "start_time"),
        end_time=to_datetime(request, "end_time"),
        reward_outcome=_specified(request.reward_outcome, outcome_type_from_proto),
        max_decisions=request.max_decisions,
    )


def _estimate(estimate: Estimate) -> pb.PolicyValueEstimate:
    return pb.PolicyValueEstimate(
        value=estimate.value,
        standard_error=estimate.standard_error,
        lower=estimate.lower,
        upper=estimate.upper,
    )


def evaluation_to_proto(evaluation: Evaluation, skipped: int) -> pb.EvaluatePolicyResponse:
    return pb.EvaluatePolicyResponse(
        decision_count=evaluation.decision_count,
        skipped_count=skipped,
        logged=_estimate(evaluation.logged),
        inverse_propensity=_estimate(evaluation.inverse_propensity),
        doubly_robust=_estimate(evaluation.doubly_robust),
        effective_sample_size=evaluation.effective_sample_size,
        agreement=evaluation.agreement,
    )
