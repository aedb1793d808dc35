"""gRPC methods of the customer lifecycle: UnmergeCustomer, EraseCustomer, WatchChanges."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.identity.domain.model import ChangeKind
from rapport.identity.service_layer import lifecycle
from rapport.identity.service_layer import lifecycle_commands as commands
from rapport.identity.service_layer.handlers import IdentityContext
from rapport.identity.v1 import identity_service_pb2 as pb

_CHANGE_KINDS = {
    ChangeKind.CREATED: pb.CHANGE_KIND_CREATED,
    ChangeKind.MERGED: pb.CHANGE_KIND_MERGED,
    ChangeKind.UNMERGED: pb.CHANGE_KIND_UNMERGED,
    ChangeKind.ERASED: pb.CHANGE_KIND_ERASED,
}


class LifecycleRpcs:
    """Mixed into the identity servicer (which sets ``_ctx``)."""

    _ctx: IdentityContext

    async def UnmergeCustomer(  # noqa: N802 (generated method name)
        self, request: pb.UnmergeCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnmergeCustomerResponse:
        from rapport.identity.entrypoints.grpc_servicer import _customer

        command = commands.UnmergeCustomer(name=request.name, customers=tuple(request.customers))
        result = await lifecycle.unmerge_customer(command, self._ctx)
        workspace = request.name.split("/")[1]  # validated by the handler
        return pb.UnmergeCustomerResponse(
            customer=_customer(result.customer, workspace),
            restored_customers=[
                _customer(customer, workspace) for customer in result.restored_customers
            ],
        )

    async def EraseCustomer(  # noqa: N802
        self, request: pb.EraseCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.EraseCustomerResponse:
        command = commands.EraseCustomer(
            name=request.name, block_identifiers=request.block_identifiers
        )
        result = await lifecycle.erase_customer(command, self._ctx)
        return pb.EraseCustomerResponse(
            name=result.name, erased_identifier_count=result.erased_identifier_count
        )

    async def WatchChanges(  # noqa: N802
        self, request: pb.WatchChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchChangesResponse]:
        command = commands.WatchChanges(parent=request.parent, start_cursor=request.start_cursor)
        changes = await lifecycle.watch_changes(command, self._ctx)
        workspace = request.parent.split("/")[1]
        async for change in changes:
            yield pb.WatchChangesResponse(change=_change(change, workspace))


def _change(change: lifecycle.Change, workspace: str) -> pb.Change:
    create_time = Timestamp()
    create_time.FromDatetime(change.create_time)
    return pb.Change(
        cursor=str(change.cursor),
        kind=_CHANGE_KINDS[change.kind],
        customer=lifecycle.CUSTOMER.format(workspace=workspace, customer=change.customer_id),
        other_customers=[
            lifecycle.CUSTOMER.format(workspace=workspace, customer=other)
            for other in change.other_customer_ids
        ],
        create_time=create_time,
    )
