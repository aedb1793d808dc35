"""Calls many service tests make: publish the draft, switch the default contact limits off."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb

PARENT = "workspaces/default"


async def publish(stub, parent: str = PARENT) -> pb.DecisionConfigVersion | None:
    """Publish the draft; None when it had no changes."""
    try:
        return await stub.PublishDecisionConfig(pb.PublishDecisionConfigRequest(parent=parent))
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return None


async def without_contact_limits(stub, parent: str = PARENT) -> None:
    """Tests about ranking or the runner's mechanics contact one customer many times a week."""
    await stub.UpdateDecisionSettings(
        pb.UpdateDecisionSettingsRequest(
            decision_settings=pb.DecisionSettings(name=f"{parent}/decisionSettings"),
            update_mask=field_mask_pb2.FieldMask(paths=["contact_limits"]),
        )
    )
    await publish(stub, parent)
