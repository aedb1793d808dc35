"""The DecisioningService servicer: protobuf -> command, handler, result -> protobuf."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from rapport.decisioning.domain.model import Trigger
from rapport.decisioning.service_layer import (
    actions,
    commands,
    config_io,
    conversion_rules,
    customer_data,
    decision_settings,
    decisions,
    experiments,
    groups,
    outcomes,
    trigger_activities,
    triggers,
    versions,
    window_backfill,
)
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.trigger_activity_commands import GetTriggerActivity
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as pb_grpc

from . import activity_converters as ac
from . import config_converters as cc
from . import converters as conv
from . import experiment_converters as xc
from .model_servicer import ModelRpcs

Context = grpc.aio.ServicerContext


class DecisioningServicer(ModelRpcs, pb_grpc.DecisioningServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    # -- decisions -------------------------------------------------------------------

    async def Decide(self, request: pb.DecideRequest, context: Context) -> pb.DecideResponse:
        decision = await decisions.decide(conv.decide_command(request), self._deps)
        return conv.decide_response(decision)

    async def GetDecision(self, request: pb.GetDecisionRequest, context: Context) -> pb.Decision:
        decision = await decisions.get_decision(commands.GetDecision(name=request.name), self._deps)
        return conv.decision_to_proto(decision)

    async def ListDecisions(
        self, request: pb.ListDecisionsRequest, context: Context
    ) -> pb.ListDecisionsResponse:
        page, token = await decisions.list_decisions(
            commands.ListDecisions(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
                customer=request.customer,
            ),
            self._deps,
        )
        return pb.ListDecisionsResponse(
            decisions=[conv.decision_to_proto(d) for d in page], next_page_token=token
        )

    # -- actions ---------------------------------------------------------------------

    async def CreateAction(self, request: pb.CreateActionRequest, context: Context) -> pb.Action:
        action = await actions.create_action(conv.create_action_command(request), self._deps)
        return conv.action_to_proto(action)

    async def GetAction(self, request: pb.GetActionRequest, context: Context) -> pb.Action:
        action = await actions.get_action(commands.GetAction(name=request.name), self._deps)
        return conv.action_to_proto(action)

    async def ListActions(
        self, request: pb.ListActionsRequest, context: Context
    ) -> pb.ListActionsResponse:
        page, token = await actions.list_actions(
            commands.ListActions(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
                group=request.group,
            ),
            self._deps,
        )
        return pb.ListActionsResponse(
            actions=[conv.action_to_proto(a) for a in page], next_page_token=token
        )

    async def UpdateAction(self, request: pb.UpdateActionRequest, context: Context) -> pb.Action:
        action = await actions.update_action(conv.update_action_command(request), self._deps)
        return conv.action_to_proto(action)

    async def DeleteAction(
        self, request: pb.DeleteActionRequest, context: Context
    ) -> empty_pb2.Empty:
        await actions.delete_action(commands.DeleteAction(name=request.name), self._deps)
        return empty_pb2.Empty()

    # -- action groups ---------------------------------------------------------------

    async def CreateActionGroup(
        self, request: pb.CreateActionGroupRequest, context: Context
    ) -> pb.ActionGroup:
        group = await groups.create_group(cc.create_group_command(request), self._deps)
        return cc.group_to_proto(group)

    async def GetActionGroup(
        self, request: pb.GetActionGroupRequest, context: Context
    ) -> pb.ActionGroup:
        group = await groups.get_group(commands.GetActionGroup(name=request.name), self._deps)
        return cc.group_to_proto(group)

    async def ListActionGroups(
        self, request: pb.ListActionGroupsRequest, context: Context
    ) -> pb.ListActionGroupsResponse:
        page, token = await groups.list_groups(
            commands.ListActionGroups(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
                issue=request.issue,
            ),
            self._deps,
        )
        return pb.ListActionGroupsResponse(
            action_groups=[cc.group_to_proto(g) for g in page], next_page_token=token
        )

    async def UpdateActionGroup(
        self, request: pb.UpdateActionGroupRequest, context: Context
    ) -> pb.ActionGroup:
        group = await groups.update_group(cc.update_group_command(request), self._deps)
        return cc.group_to_proto(group)

    async def DeleteActionGroup(
        self, request: pb.DeleteActionGroupRequest, context: Context
    ) -> empty_pb2.Empty:
        await groups.delete_group(commands.DeleteActionGroup(name=request.name), self._deps)
        return empty_pb2.Empty()

    # -- outcomes --------------------------------------------------------------------

    async def RecordOutcome(self, request: pb.RecordOutcomeRequest, context: Context) -> pb.Outcome:
        outcome = await outcomes.record_outcome(conv.record_outcome_command(request), self._deps)
        return conv.outcome_to_proto(outcome)

    async def GetOutcome(self, request: pb.GetOutcomeRequest, context: Context) -> pb.Outcome:
        outcome = await outcomes.get_outcome(commands.GetOutcome(name=request.name), self._deps)
        return conv.outcome_to_proto(outcome)

    async def ListOutcomes(
        self, request: pb.ListOutcomesRequest, context: Context
    ) -> pb.ListOutcomesResponse:
        page, token = await outcomes.list_outcomes(
            commands.ListOutcomes(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
                decision=request.decision,
            ),
            self._deps,
        )
        return pb.ListOutcomesResponse(
            outcomes=[conv.outcome_to_proto(o) for o in page], next_page_token=token
        )

    # -- triggers --------------------------------------------------------------------

    async def CreateTrigger(self, request: pb.CreateTriggerRequest, context: Context) -> pb.Trigger:
        trigger = await triggers.create_trigger(conv.create_trigger_command(request), self._deps)
        return await self._trigger_message(trigger)

    async def GetTrigger(self, request: pb.GetTriggerRequest, context: Context) -> pb.Trigger:
        trigger = await triggers.get_trigger(commands.GetTrigger(name=request.name), self._deps)
        return await self._trigger_message(trigger)

    async def _trigger_message(self, trigger: Trigger) -> pb.Trigger:
        backfills = await window_backfill.backfill_views([trigger], self._deps)
        return conv.trigger_to_proto(trigger, backfills.get(trigger.name))

    async def ListTriggers(
        self, request: pb.ListTriggersRequest, context: Context
    ) -> pb.ListTriggersResponse:
        page, token = await triggers.list_triggers(
            commands.ListTriggers(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
            self._deps,
        )
        views = await window_backfill.backfill_views(page, self._deps)
        messages = [conv.trigger_to_proto(t, views.get(t.name)) for t in page]
        return pb.ListTriggersResponse(triggers=messages, next_page_token=token)

    async def UpdateTrigger(self, request: pb.UpdateTriggerRequest, context: Context) -> pb.Trigger:
        trigger = await triggers.update_trigger(conv.update_trigger_command(request), self._deps)
        return await self._trigger_message(trigger)

    async def DeleteTrigger(
        self, request: pb.DeleteTriggerRequest, context: Context
    ) -> empty_pb2.Empty:
        await triggers.delete_trigger(commands.DeleteTrigger(name=request.name), self._deps)
        return empty_pb2.Empty()

    async def GetTriggerActivity(
        self, request: pb.GetTriggerActivityRequest, context: Context
    ) -> pb.TriggerActivity:
        command = GetTriggerActivity(name=request.name)
        activity = await trigger_activities.get_trigger_activity(command, self._deps)
        return ac.trigger_activity_to_proto(activity)

    async def ListTriggerActivities(
        self, request: pb.ListTriggerActivitiesRequest, context: Context
    ) -> pb.ListTriggerActivitiesResponse:
        page, token = await trigger_activities.list_trigger_activities(
            ac.list_trigger_activities_command(request), self._deps
        )
        return pb.ListTriggerActivitiesResponse(
            trigger_activities=[ac.trigger_activity_to_proto(a) for a in page],
            next_page_token=token,
        )

    # -- settings, versions, documents -------------------------------------------------

    async def GetDecisionSettings(
        self, request: pb.GetDecisionSettingsRequest, context: Context
    ) -> pb.DecisionSettings:
        command = commands.GetDecisionSettings(name=request.name)
        settings = await decision_settings.get_settings(command, self._deps)
        return cc.settings_to_proto(request.name, settings)

    async def UpdateDecisionSettings(
        self, request: pb.UpdateDecisionSettingsRequest, context: Context
    ) -> pb.DecisionSettings:
        command = cc.update_settings_command(request)
        settings = await decision_settings.update_settings(command, self._deps)
        return cc.settings_to_proto(command.name, settings)

    async def PublishDecisionConfig(
        self, request: pb.PublishDecisionConfigRequest, context: Context
    ) -> pb.DecisionConfigVersion:
        command = commands.PublishDecisionConfig(request.parent, request.description)
        return cc.version_to_proto(await versions.publish(command, self._deps))

    async def RollbackDecisionConfig(
        self, request: pb.RollbackDecisionConfigRequest, context: Context
    ) -> pb.DecisionConfigVersion:
        command = commands.RollbackDecisionConfig(request.name, request.description)
        return cc.version_to_proto(await versions.rollback(command, self._deps))

    async def GetDecisionConfigVersion(
        self, request: pb.GetDecisionConfigVersionRequest, context: Context
    ) -> pb.DecisionConfigVersion:
        command = commands.GetDecisionConfigVersion(request.name)
        return cc.version_to_proto(await versions.get_version(command, self._deps))

    async def ListDecisionConfigVersions(
        self, request: pb.ListDecisionConfigVersionsRequest, context: Context
    ) -> pb.ListDecisionConfigVersionsResponse:
        page, token = await versions.list_versions(
            commands.ListDecisionConfigVersions(
                request.parent, request.page_size, request.page_token
            ),
            self._deps,
        )
        return pb.ListDecisionConfigVersionsResponse(
            decision_config_versions=[cc.version_to_proto(v) for v in page],
            next_page_token=token,
        )

    async def DiffDecisionConfig(
        self, request: pb.DiffDecisionConfigRequest, context: Context
    ) -> pb.DiffDecisionConfigResponse:
        command = commands.DiffDecisionConfig(
            request.parent, request.base_version, request.target_version
        )
        changes = await versions.diff_versions(command, self._deps)
        return pb.DiffDecisionConfigResponse(changes=cc.changes_to_proto(changes))

    async def ImportDecisionConfig(
        self, request: pb.ImportDecisionConfigRequest, context: Context
    ) -> pb.ImportDecisionConfigResponse:
        command = commands.ImportDecisionConfig(request.parent, request.content, request.merge)
        changes = await config_io.import_config(command, self._deps)
        return pb.ImportDecisionConfigResponse(changes=cc.changes_to_proto(changes))

    async def ExportDecisionConfig(
        self, request: pb.ExportDecisionConfigRequest, context: Context
    ) -> pb.ExportDecisionConfigResponse:
        command = commands.ExportDecisionConfig(request.parent, request.version)
        return pb.ExportDecisionConfigResponse(
            content=await config_io.export_config(command, self._deps)
        )

    # -- experiments, conversion rules -------------------------------------------------

    async def CreateExperiment(
        self, request: pb.CreateExperimentRequest, context: Context
    ) -> pb.Experiment:
        command = xc.create_experiment_command(request)
        return xc.experiment_to_proto(await experiments.create_experiment(command, self._deps))

    async def GetExperiment(
        self, request: pb.GetExperimentRequest, context: Context
    ) -> pb.Experiment:
        command = commands.GetExperiment(name=request.name)
        return xc.experiment_to_proto(await experiments.get_experiment(command, self._deps))

    async def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: Context
    ) -> pb.ListExperimentsResponse:
        page, token = await experiments.list_experiments(
            commands.ListExperiments(request.parent, request.page_size, request.page_token),
            self._deps,
        )
        return pb.ListExperimentsResponse(
            experiments=[xc.experiment_to_proto(e) for e in page], next_page_token=token
        )

    async def UpdateExperiment(
        self, request: pb.UpdateExperimentRequest, context: Context
    ) -> pb.Experiment:
        command = xc.update_experiment_command(request)
        return xc.experiment_to_proto(await experiments.update_experiment(command, self._deps))

    async def DeleteExperiment(
        self, request: pb.DeleteExperimentRequest, context: Context
    ) -> empty_pb2.Empty:
        await experiments.delete_experiment(commands.DeleteExperiment(request.name), self._deps)
        return empty_pb2.Empty()

    async def GetExperimentReport(
        self, request: pb.GetExperimentReportRequest, context: Context
    ) -> pb.ExperimentReport:
        command = commands.GetExperimentReport(request.name)
        return xc.report_to_proto(await experiments.get_experiment_report(command, self._deps))

    async def CreateConversionRule(
        self, request: pb.CreateConversionRuleRequest, context: Context
    ) -> pb.ConversionRule:
        command = xc.create_conversion_rule_command(request)
        rule = await conversion_rules.create_conversion_rule(command, self._deps)
        return xc.conversion_rule_to_proto(rule)

    async def GetConversionRule(
        self, request: pb.GetConversionRuleRequest, context: Context
    ) -> pb.ConversionRule:
        command = commands.GetConversionRule(request.name)
        rule = await conversion_rules.get_conversion_rule(command, self._deps)
        return xc.conversion_rule_to_proto(rule)

    async def ListConversionRules(
        self, request: pb.ListConversionRulesRequest, context: Context
    ) -> pb.ListConversionRulesResponse:
        page, token = await conversion_rules.list_conversion_rules(
            commands.ListConversionRules(request.parent, request.page_size, request.page_token),
            self._deps,
        )
        return pb.ListConversionRulesResponse(
            conversion_rules=[xc.conversion_rule_to_proto(r) for r in page], next_page_token=token
        )

    async def UpdateConversionRule(
        self, request: pb.UpdateConversionRuleRequest, context: Context
    ) -> pb.ConversionRule:
        command = xc.update_conversion_rule_command(request)
        rule = await conversion_rules.update_conversion_rule(command, self._deps)
        return xc.conversion_rule_to_proto(rule)

    async def DeleteConversionRule(
        self, request: pb.DeleteConversionRuleRequest, context: Context
    ) -> empty_pb2.Empty:
        command = commands.DeleteConversionRule(request.name)
        await conversion_rules.delete_conversion_rule(command, self._deps)
        return empty_pb2.Empty()

    # -- data subject requests ---------------------------------------------------------

    async def ExportCustomerDecisions(
        self, request: pb.ExportCustomerDecisionsRequest, context: Context
    ) -> pb.ExportCustomerDecisionsResponse:
        command = commands.ExportCustomerDecisions(
            request.parent, request.customer, request.page_size, request.page_token
        )
        return xc.export_to_proto(
            await customer_data.export_customer_decisions(command, self._deps)
        )

    async def EraseCustomerDecisions(
        self, request: pb.EraseCustomerDecisionsRequest, context: Context
    ) -> pb.EraseCustomerDecisionsResponse:
        command = commands.EraseCustomerDecisions(request.parent, request.customer)
        return xc.erased_to_proto(await customer_data.erase_customer_decisions(command, self._deps))
