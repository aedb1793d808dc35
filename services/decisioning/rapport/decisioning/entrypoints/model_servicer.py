"""The DecisioningService RPCs of models, simulation and off-policy evaluation (a part of
DecisioningServicer): protobuf -> command, handler, result -> protobuf."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from rapport.decisioning.service_layer import model_commands, models, simulation
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.v1 import decisioning_service_pb2 as pb

from . import model_converters as mc

Context = grpc.aio.ServicerContext


class ModelRpcs:
    _deps: Dependencies

    # -- models ----------------------------------------------------------------------

    async def CreateModel(self, request: pb.CreateModelRequest, context: Context) -> pb.Model:
        return mc.model_to_proto(
            await models.create_model(mc.create_model_command(request), self._deps)
        )

    async def GetModel(self, request: pb.GetModelRequest, context: Context) -> pb.Model:
        return mc.model_to_proto(
            await models.get_model(model_commands.GetModel(name=request.name), self._deps)
        )

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        page, token = await models.list_models(
            model_commands.ListModels(
                parent=request.parent, page_size=request.page_size, page_token=request.page_token
            ),
            self._deps,
        )
        return pb.ListModelsResponse(
            models=[mc.model_to_proto(m) for m in page], next_page_token=token
        )

    async def UpdateModel(self, request: pb.UpdateModelRequest, context: Context) -> pb.Model:
        return mc.model_to_proto(
            await models.update_model(mc.update_model_command(request), self._deps)
        )

    async def DeleteModel(
        self, request: pb.DeleteModelRequest, context: Context
    ) -> empty_pb2.Empty:
        await models.delete_model(model_commands.DeleteModel(name=request.name), self._deps)
        return empty_pb2.Empty()

    # -- simulation and off-policy evaluation ------------------------------------------

    async def SimulateDecisions(
        self, request: pb.SimulateDecisionsRequest, context: Context
    ) -> pb.SimulateDecisionsResponse:
        result = await simulation.simulate_decisions(mc.simulate_command(request), self._deps)
        return mc.simulation_to_proto(result)

    async def EvaluatePolicy(
        self, request: pb.EvaluatePolicyRequest, context: Context
    ) -> pb.EvaluatePolicyResponse:
        evaluation, skipped = await simulation.evaluate_policy(
            mc.evaluate_command(request), self._deps
        )
        return mc.evaluation_to_proto(evaluation, skipped)
