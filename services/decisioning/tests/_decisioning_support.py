"""Calls many service tests make: publish the draft, switch the default contact limits off;
and, for tests that run several scenarios on one database, forget the erasures."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from rapport.decisioning.adapters import tables
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.sqlstore import create_engine

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


async def forget_erasures(settings) -> None:
    """Drop the tombstones of the customers erased so far, for a scenario that decides
    again for them on the same database, as if they were new customers (customer ids are
    never reused otherwise, and Decide refuses an erased customer)."""
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.erased_customers.delete())
    finally:
        await engine.dispose()
