"""Every RPC of the contract has a scope: reads need decisioning.read, writes theirs."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2
from rapport.decisioning.bootstrap import ERROR_DOMAIN, METHOD_SCOPES, SERVICE_NAME
from rapport.decisioning.v1 import decisioning_service_pb2 as pb

PARENT = "workspaces/default"
READS = {
    "GetAction": pb.GetActionRequest(name="workspaces/default/actions/a"),
    "ListActions": pb.ListActionsRequest(parent=PARENT),
    "GetTrigger": pb.GetTriggerRequest(name="workspaces/default/triggers/t"),
    "ListTriggers": pb.ListTriggersRequest(parent=PARENT),
    "GetDecision": pb.GetDecisionRequest(name="workspaces/default/decisions/d"),
    "ListDecisions": pb.ListDecisionsRequest(parent=PARENT),
    "GetOutcome": pb.GetOutcomeRequest(name="workspaces/default/outcomes/o"),
    "ListOutcomes": pb.ListOutcomesRequest(parent=PARENT),
    "GetActionGroup": pb.GetActionGroupRequest(name="workspaces/default/actionGroups/g"),
    "ListActionGroups": pb.ListActionGroupsRequest(parent=PARENT),
    "GetDecisionSettings": pb.GetDecisionSettingsRequest(
        name="workspaces/default/decisionSettings"
    ),
    "GetDecisionConfigVersion": pb.GetDecisionConfigVersionRequest(
        name="workspaces/default/decisionConfigVersions/1"
    ),
    "ListDecisionConfigVersions": pb.ListDecisionConfigVersionsRequest(parent=PARENT),
    "DiffDecisionConfig": pb.DiffDecisionConfigRequest(parent=PARENT),
    "ExportDecisionConfig": pb.ExportDecisionConfigRequest(parent=PARENT),
    "GetExperiment": pb.GetExperimentRequest(name="workspaces/default/experiments/e"),
    "ListExperiments": pb.ListExperimentsRequest(parent=PARENT),
    "GetExperimentReport": pb.GetExperimentReportRequest(name="workspaces/default/experiments/e"),
    "GetConversionRule": pb.GetConversionRuleRequest(name="workspaces/default/conversionRules/c"),
    "ListConversionRules": pb.ListConversionRulesRequest(parent=PARENT),
    "GetTriggerActivity": pb.GetTriggerActivityRequest(
        name="workspaces/default/triggers/t/activities/a"
    ),
    "ListTriggerActivities": pb.ListTriggerActivitiesRequest(
        parent="workspaces/default/triggers/-"
    ),
    "GetModel": pb.GetModelRequest(name="workspaces/default/models/m"),
    "ListModels": pb.ListModelsRequest(parent=PARENT),
    "EvaluatePolicy": pb.EvaluatePolicyRequest(
        parent=PARENT,
        model="workspaces/default/models/m",
        start_time=timestamp_pb2.Timestamp(seconds=1),
    ),
}
WRITES = {
    "Decide": ("decisioning.decide", pb.DecideRequest(parent=PARENT)),
    "RecordOutcome": ("decisioning.decide", pb.RecordOutcomeRequest(parent=PARENT)),
    "CreateAction": ("decisioning.admin", pb.CreateActionRequest(parent=PARENT)),
    "DeleteAction": ("decisioning.admin", pb.DeleteActionRequest(name="x")),
    "CreateTrigger": ("decisioning.admin", pb.CreateTriggerRequest(parent=PARENT)),
    "UpdateAction": ("decisioning.admin", pb.UpdateActionRequest()),
    "CreateActionGroup": ("decisioning.admin", pb.CreateActionGroupRequest(parent=PARENT)),
    "UpdateActionGroup": ("decisioning.admin", pb.UpdateActionGroupRequest()),
    "DeleteActionGroup": ("decisioning.admin", pb.DeleteActionGroupRequest(name="x")),
    "UpdateTrigger": ("decisioning.admin", pb.UpdateTriggerRequest()),
    "DeleteTrigger": ("decisioning.admin", pb.DeleteTriggerRequest(name="x")),
    "UpdateDecisionSettings": ("decisioning.admin", pb.UpdateDecisionSettingsRequest()),
    "PublishDecisionConfig": ("decisioning.admin", pb.PublishDecisionConfigRequest(parent=PARENT)),
    "RollbackDecisionConfig": ("decisioning.admin", pb.RollbackDecisionConfigRequest(name="x")),
    "ImportDecisionConfig": ("decisioning.admin", pb.ImportDecisionConfigRequest(parent=PARENT)),
    "CreateModel": ("decisioning.admin", pb.CreateModelRequest(parent=PARENT)),
    "UpdateModel": ("decisioning.admin", pb.UpdateModelRequest()),
    "DeleteModel": ("decisioning.admin", pb.DeleteModelRequest(name="x")),
    "SimulateDecisions": ("decisioning.admin", pb.SimulateDecisionsRequest(parent=PARENT)),
    "CreateExperiment": ("decisioning.admin", pb.CreateExperimentRequest(parent=PARENT)),
    "UpdateExperiment": ("decisioning.admin", pb.UpdateExperimentRequest()),
    "DeleteExperiment": ("decisioning.admin", pb.DeleteExperimentRequest(name="x")),
    "CreateConversionRule": ("decisioning.admin", pb.CreateConversionRuleRequest(parent=PARENT)),
    "UpdateConversionRule": ("decisioning.admin", pb.UpdateConversionRuleRequest()),
    "DeleteConversionRule": ("decisioning.admin", pb.DeleteConversionRuleRequest(name="x")),
    "ExportCustomerDecisions": (
        "decisioning.admin",
        pb.ExportCustomerDecisionsRequest(parent=PARENT),
    ),
    "EraseCustomerDecisions": (
        "decisioning.admin",
        pb.EraseCustomerDecisionsRequest(parent=PARENT),
    ),
}


def test_every_rpc_of_the_contract_has_its_scope():
    methods = pb.DESCRIPTOR.services_by_name["DecisioningService"].methods_by_name
    expected = {name: "decisioning.read" for name in READS}
    expected.update({name: scope for name, (scope, _) in WRITES.items()})
    assert set(methods) == set(expected)
    assert METHOD_SCOPES == {f"/{SERVICE_NAME}/{name}": scope for name, scope in expected.items()}
    assert ERROR_DOMAIN == "decisioning.rapport.dev"


async def test_a_reader_reads_and_writes_nothing(serve, make_settings):
    settings = make_settings(auth_tokens={"reader": ["decisioning.read"]})
    reader = [("authorization", "Bearer reader")]
    async with serve(settings) as stub:
        for name, request in READS.items():
            try:
                await getattr(stub, name)(request, metadata=reader)
            except grpc.aio.AioRpcError as err:
                # Let through, then refused on its merits.
                assert err.code() == grpc.StatusCode.NOT_FOUND, name
        for name, (_, request) in WRITES.items():
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await getattr(stub, name)(request, metadata=reader)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
