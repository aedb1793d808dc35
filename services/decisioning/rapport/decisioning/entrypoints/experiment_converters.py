"""Protobuf <-> commands and results for experiments, conversion rules and data subject
requests."""

from __future__ import annotations

from rapport.decisioning.domain import names
from rapport.decisioning.domain.experiments import ConversionRule, Experiment, Interval, Strategy
from rapport.decisioning.service_layer import commands
from rapport.decisioning.service_layer.customer_data import CustomerExport, Erased
from rapport.decisioning.service_layer.experiments import ExperimentReport
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.wellknowntypes import to_datetime, to_duration, to_timedelta

from .activity_converters import trigger_activity_to_proto
from .converters import (
    decision_to_proto,
    field_mask,
    outcome_to_proto,
    outcome_type_to_proto,
    timestamp,
)

_PROTO_STRATEGIES = set(pb.ExperimentStrategy.values()) - {pb.EXPERIMENT_STRATEGY_UNSPECIFIED}


def _strategy_from_proto(value: int) -> Strategy | commands.UnknownEnumValue | None:
    if value == 0:
        return None
    if value not in _PROTO_STRATEGIES:
        return commands.UnknownEnumValue(value)
    return Strategy[pb.ExperimentStrategy.Name(value).removeprefix("EXPERIMENT_STRATEGY_")]


def strategy_to_proto(strategy: Strategy) -> int:
    return pb.ExperimentStrategy.Value(f"EXPERIMENT_STRATEGY_{strategy.name}")


def create_experiment_command(request: pb.CreateExperimentRequest) -> commands.CreateExperiment:
    experiment = request.experiment
    return commands.CreateExperiment(
        parent=request.parent,
        experiment_id=request.experiment_id,
        display_name=experiment.display_name,
        actions=tuple(experiment.actions),
        arms=tuple(
            (arm.arm_id, _strategy_from_proto(arm.strategy), arm.weight) for arm in experiment.arms
        ),
        start_time=to_datetime(experiment, "start_time", field_path="experiment.start_time"),
        end_time=to_datetime(experiment, "end_time", field_path="experiment.end_time"),
    )


def update_experiment_command(request: pb.UpdateExperimentRequest) -> commands.UpdateExperiment:
    # The values ride in a CreateExperiment (its parent and id unused): one conversion.
    return commands.UpdateExperiment(
        name=request.experiment.name,
        experiment=create_experiment_command(
            pb.CreateExperimentRequest(experiment=request.experiment)
        ),
        mask=field_mask(request.experiment, request.update_mask),
    )


def experiment_to_proto(experiment: Experiment) -> pb.Experiment:
    return pb.Experiment(
        name=experiment.name,
        display_name=experiment.display_name,
        actions=[names.action_name(experiment.workspace, a) for a in experiment.action_ids],
        arms=[
            pb.ExperimentArm(
                arm_id=arm.arm_id, strategy=strategy_to_proto(arm.strategy), weight=arm.weight
            )
            for arm in experiment.arms
        ],
        start_time=timestamp(experiment.start_time),
        end_time=timestamp(experiment.end_time),
        create_time=timestamp(experiment.create_time),
    )


def _proportion(interval: Interval) -> pb.Proportion:
    return pb.Proportion(estimate=interval.estimate, lower=interval.lower, upper=interval.upper)


def report_to_proto(report: ExperimentReport) -> pb.ExperimentReport:
    return pb.ExperimentReport(
        experiment=report.experiment.name,
        arms=[
            pb.ArmReport(
                arm_id=arm.arm.arm_id,
                strategy=strategy_to_proto(arm.arm.strategy),
                reach=arm.reach,
                decisions=arm.decisions,
                outcomes=[
                    pb.OutcomeCount(
                        type=outcome_type_to_proto(tally.type),
                        customers=tally.customers,
                        count=tally.count,
                    )
                    for tally in arm.outcomes
                ],
                conversions=arm.conversions,
                conversion_rate=_proportion(arm.conversion_rate),
                conversion_value=arm.conversion_value,
                uplift=_proportion(arm.uplift) if arm.uplift is not None else None,
                exposed_reach=arm.exposed_reach,
                exposed_conversions=arm.exposed_conversions,
            )
            for arm in report.arms
        ],
        compute_time=timestamp(report.compute_time),
    )


def create_conversion_rule_command(
    request: pb.CreateConversionRuleRequest,
) -> commands.CreateConversionRule:
    rule = request.conversion_rule
    return commands.CreateConversionRule(
        parent=request.parent,
        rule_id=request.conversion_rule_id,
        action=rule.action,
        event_name=rule.event_name,
        window=to_timedelta(rule, "window", field_path="conversion_rule.window"),
    )


def update_conversion_rule_command(
    request: pb.UpdateConversionRuleRequest,
) -> commands.UpdateConversionRule:
    # The values ride in a CreateConversionRule (its parent and id unused): one conversion.
    return commands.UpdateConversionRule(
        name=request.conversion_rule.name,
        rule=create_conversion_rule_command(
            pb.CreateConversionRuleRequest(conversion_rule=request.conversion_rule)
        ),
        mask=field_mask(request.conversion_rule, request.update_mask),
    )


def conversion_rule_to_proto(rule: ConversionRule) -> pb.ConversionRule:
    return pb.ConversionRule(
        name=rule.name,
        action=rule.action_name,
        event_name=rule.event_name,
        window=to_duration(rule.window),
        create_time=timestamp(rule.create_time),
    )


def export_to_proto(export: CustomerExport) -> pb.ExportCustomerDecisionsResponse:
    return pb.ExportCustomerDecisionsResponse(
        decisions=[decision_to_proto(d) for d in export.decisions],
        outcomes=[outcome_to_proto(o) for o in export.outcomes],
        next_page_token=export.next_page_token,
        model_contributions=[
            pb.ModelContribution(
                model=names.model_name(c.workspace, c.model_id),
                action=names.action_name(c.workspace, c.action_id),
                decision=names.decision_name(c.workspace, c.decision_id),
                outcome=names.outcome_name(c.workspace, c.outcome_id),
                exposed=c.exposed,
                reward=c.reward,
                create_time=timestamp(c.create_time),
            )
            for c in export.contributions
        ],
        trigger_activities=[trigger_activity_to_proto(a) for a in export.trigger_activities],
    )


def erased_to_proto(erased: Erased) -> pb.EraseCustomerDecisionsResponse:
    return pb.EraseCustomerDecisionsResponse(
        decision_count=erased.decisions,
        outcome_count=erased.outcomes,
        contact_count=erased.contacts,
        sent_message_count=erased.sent_messages,
        schedule_count=erased.schedules,
        model_contribution_count=erased.model_contributions,
        trigger_activity_count=erased.trigger_activities,
    )
