"""gRPC servicer: protobuf <-> commands and results, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.errors import InvalidArgument
from rapport.identity.domain.model import Customer
from rapport.identity.entrypoints.lifecycle_servicer import LifecycleRpcs
from rapport.identity.entrypoints.matching_servicer import MatchingRpcs
from rapport.identity.entrypoints.rules_servicer import RulesRpcs
from rapport.identity.service_layer import commands, handlers
from rapport.identity.service_layer.handlers import IdentityContext, ResolveResult
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc


class IdentityServicer(
    RulesRpcs, MatchingRpcs, LifecycleRpcs, pb_grpc.IdentityServiceServicer
):
    def __init__(self, ctx: IdentityContext) -> None:
        self._ctx = ctx

    async def Resolve(  # noqa: N802 (generated method name)
        self, request: pb.ResolveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveResponse:
        result = await handlers.resolve(_resolve_command(request, prefix=""), self._ctx)
        return _resolve_response(result, _workspace_of(request.parent))

    async def BatchResolve(  # noqa: N802
        self, request: pb.BatchResolveRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchResolveResponse:
        command = commands.BatchResolve(
            parent=request.parent,
            requests=tuple(
                _resolve_command(item, prefix=f"requests[{index}].")
                for index, item in enumerate(request.requests)
            ),
        )
        results = await handlers.batch_resolve(command, self._ctx)
        workspace = _workspace_of(request.parent)
        return pb.BatchResolveResponse(
            responses=[_resolve_response(result, workspace) for result in results]
        )

    async def GetCustomer(  # noqa: N802
        self, request: pb.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Customer:
        customer = await handlers.get_customer(commands.GetCustomer(request.name), self._ctx)
        return _customer(customer, _workspace_of(request.name))

    async def LookupCustomer(  # noqa: N802
        self, request: pb.LookupCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.Customer:
        command = commands.LookupCustomer(
            parent=request.parent,
            identifier=commands.RawIdentifier(request.identifier.type, request.identifier.value),
        )
        customer = await handlers.lookup_customer(command, self._ctx)
        return _customer(customer, _workspace_of(request.parent))

    async def ListCustomers(  # noqa: N802
        self, request: pb.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCustomersResponse:
        command = commands.ListCustomers(
            parent=request.parent, page_size=request.page_size, page_token=request.page_token
        )
        page = await handlers.list_customers(command, self._ctx)
        workspace = _workspace_of(request.parent)
        return pb.ListCustomersResponse(
            customers=[_customer(customer, workspace) for customer in page.customers],
            next_page_token=page.next_page_token,
        )


_ATTRIBUTE_FIELDS = frozenset(pb.PersonAttributes.DESCRIPTOR.fields_by_name)


def _workspace_of(name: str) -> str:
    # Only called after the handler validated the name.
    return name.split("/")[1]


def _resolve_command(request: pb.ResolveRequest, *, prefix: str) -> commands.Resolve:
    return commands.Resolve(
        parent=request.parent,
        identifiers=tuple(
            commands.RawIdentifier(identifier.type, identifier.value)
            for identifier in request.identifiers
        ),
        source=request.source,
        observe_time=_datetime(request, "observe_time", field=f"{prefix}observe_time"),
        attributes=(
            _attributes_from_pb(request.attributes) if request.HasField("attributes") else {}
        ),
    )


def _attributes_from_pb(message: pb.PersonAttributes) -> dict[str, str]:
    return {field.name: value for field, value in message.ListFields()}


def _datetime(message: pb.ResolveRequest, name: str, *, field: str) -> datetime | None:
    if not message.HasField(name):
        return None
    try:
        return getattr(message, name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(field, "is not a valid timestamp") from exc


def _timestamp(value: datetime) -> Timestamp:
    # Direct arithmetic: Timestamp.FromDatetime goes through calendar.timegm, and
    # BatchResolve builds two timestamps per response.
    seconds = (value.astimezone(UTC) - _EPOCH) // _SECOND
    return Timestamp(seconds=seconds, nanos=value.microsecond * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _customer_name(workspace: str, customer_id: str) -> str:
    return handlers.CUSTOMER.format(workspace=workspace, customer=customer_id)


def _customer(customer: Customer, workspace: str) -> pb.Customer:
    return pb.Customer(
        name=_customer_name(workspace, customer.id),
        identifiers=[pb.Identifier(type=i.type, value=i.value) for i in customer.identifiers],
        create_time=_timestamp(customer.create_time),
        update_time=_timestamp(customer.update_time),
        merged_customers=[_customer_name(workspace, m) for m in customer.merged_customer_ids],
        attributes=pb.PersonAttributes(
            **{k: v for k, v in customer.attributes.items() if k in _ATTRIBUTE_FIELDS}
        ),
    )


def _resolve_response(result: ResolveResult, workspace: str) -> pb.ResolveResponse:
    # No customer when every identifier was rejected (see rejected_identifiers).
    return pb.ResolveResponse(
        customer=None if result.customer is None else _customer(result.customer, workspace),
        created=result.created,
        merged_customers=[_customer_name(workspace, m) for m in result.merged_customer_ids],
        rejected_identifiers=[
            pb.RejectedIdentifier(
                identifier=pb.Identifier(type=r.identifier.type, value=r.identifier.value),
                reason=str(r.reason),
                description=r.description,
            )
            for r in result.rejected
        ],
    )
