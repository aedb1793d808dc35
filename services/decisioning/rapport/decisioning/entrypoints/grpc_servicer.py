"""The DecisioningService servicer: protobuf -> command, handler, result -> protobuf."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from rapport.decisioning.service_layer import (
    actions,
    commands,
    decisions,
    outcomes,
    triggers,
)
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as pb_grpc

from . import converters as conv


class DecisioningServicer(pb_grpc.DecisioningServiceServicer):
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    # -- decisions -------------------------------------------------------------------

    async def Decide(
        self, request: pb.DecideRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideResponse:
        decision = await decisions.decide(conv.decide_command(request), self._deps)
        return conv.decide_response(decision)

    async def GetDecision(
        self, request: pb.GetDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Decision:
        decision = await decisions.get_decision(commands.GetDecision(name=request.name), self._deps)
        return conv.decision_to_proto(decision)

    async def ListDecisions(
        self, request: pb.ListDecisionsRequest, context: grpc.aio.ServicerContext
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

    async def CreateAction(
        self, request: pb.CreateActionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Action:
        action = await actions.create_action(
            commands.CreateAction(
                parent=request.parent,
                action_id=request.action_id,
                draft=conv.action_draft_from_proto(request.action),
            ),
            self._deps,
        )
        return conv.action_to_proto(action)

    async def GetAction(
        self, request: pb.GetActionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Action:
        action = await actions.get_action(commands.GetAction(name=request.name), self._deps)
        return conv.action_to_proto(action)

    async def ListActions(
        self, request: pb.ListActionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListActionsResponse:
        page, token = await actions.list_actions(
            commands.ListActions(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
            self._deps,
        )
        return pb.ListActionsResponse(
            actions=[conv.action_to_proto(a) for a in page], next_page_token=token
        )

    async def DeleteAction(
        self, request: pb.DeleteActionRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await actions.delete_action(commands.DeleteAction(name=request.name), self._deps)
        return empty_pb2.Empty()

    # -- outcomes --------------------------------------------------------------------

    async def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: grpc.aio.ServicerContext
    ) -> pb.Outcome:
        outcome = await outcomes.record_outcome(conv.record_outcome_command(request), self._deps)
        return conv.outcome_to_proto(outcome)

    async def GetOutcome(
        self, request: pb.GetOutcomeRequest, context: grpc.aio.ServicerContext
    ) -> pb.Outcome:
        outcome = await outcomes.get_outcome(commands.GetOutcome(name=request.name), self._deps)
        return conv.outcome_to_proto(outcome)

    async def ListOutcomes(
        self, request: pb.ListOutcomesRequest, context: grpc.aio.ServicerContext
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

    async def CreateTrigger(
        self, request: pb.CreateTriggerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Trigger:
        trigger = await triggers.create_trigger(conv.create_trigger_command(request), self._deps)
        return conv.trigger_to_proto(trigger)

    async def GetTrigger(
        self, request: pb.GetTriggerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Trigger:
        trigger = await triggers.get_trigger(commands.GetTrigger(name=request.name), self._deps)
        return conv.trigger_to_proto(trigger)

    async def ListTriggers(
        self, request: pb.ListTriggersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTriggersResponse:
        page, token = await triggers.list_triggers(
            commands.ListTriggers(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
            ),
            self._deps,
        )
        return pb.ListTriggersResponse(
            triggers=[conv.trigger_to_proto(t) for t in page], next_page_token=token
        )
