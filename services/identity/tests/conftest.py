"""Fixtures of the identity service tests: an in-process server and its core scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from rapport.grpcserver import RunningServer
from rapport.grpctesting import serve_in_process, status_details
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

PARENT = "workspaces/default"

Stub = pb_grpc.IdentityServiceStub


def ident(type_: str, value: str) -> pb.Identifier:
    return pb.Identifier(type=type_, value=value)


@pytest.fixture
def identity_settings(tmp_path: Path) -> IdentitySettings:
    return IdentitySettings(data_dir=tmp_path, workspaces=["default", "other"])


@pytest.fixture
async def identity_server(identity_settings: IdentitySettings) -> AsyncIterator[RunningServer]:
    async with serve_in_process(build, identity_settings) as server:
        yield server


@pytest.fixture
async def stub(identity_server: RunningServer) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(identity_server.address) as channel:
        yield pb_grpc.IdentityServiceStub(channel)


async def _core_scenario(stub: Stub) -> None:
    """Create, link, create another, merge, then read through every RPC."""
    first = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("user_id", "u1"), ident("email", " Ann@Example.COM ")],
            source="test",
        )
    )
    assert first.created
    assert {(i.type, i.value) for i in first.customer.identifiers} == {
        ("user_id", "u1"),
        ("email", "ann@example.com"),
    }

    linked = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("email", "ann@example.com"), ident("phone", "(650) 253-0000")],
        )
    )
    assert not linked.created
    assert linked.customer.name == first.customer.name
    assert len(linked.customer.identifiers) == 3
    assert linked.customer.update_time.ToDatetime() >= first.customer.update_time.ToDatetime()

    second = await stub.Resolve(
        pb.ResolveRequest(parent=PARENT, identifiers=[ident("device_id", "d1")])
    )
    assert second.created and second.customer.name != first.customer.name

    merged = await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT,
            identifiers=[ident("device_id", "d1"), ident("phone", "+1 650 253 0000")],
            source="crm-import",
        )
    )
    assert merged.customer.name == first.customer.name  # the oldest survives
    assert list(merged.merged_customers) == [second.customer.name]
    assert list(merged.customer.merged_customers) == [second.customer.name]
    assert len(merged.customer.identifiers) == 4

    via_merged = await stub.GetCustomer(pb.GetCustomerRequest(name=second.customer.name))
    assert via_merged.name == first.customer.name

    looked_up = await stub.LookupCustomer(
        pb.LookupCustomerRequest(parent=PARENT, identifier=ident("phone", "650-253-0000"))
    )
    assert looked_up.name == first.customer.name

    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert [c.name for c in listed.customers] == [first.customer.name]
    assert listed.next_page_token == ""


@pytest.fixture
def core_scenario() -> Callable[[Stub], Awaitable[None]]:
    return _core_scenario


class RpcFailure:
    """A failed call's code, ErrorInfo and the single BadRequest field (if any)."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        self.error = error
        self.code = error.code()
        self.info, bad_request = status_details(error)
        self.field = (
            bad_request.field_violations[0].field
            if bad_request is not None and bad_request.field_violations
            else None
        )


async def _fails(call: Awaitable[object], code: grpc.StatusCode) -> RpcFailure:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    failure = RpcFailure(caught.value)
    assert failure.code == code, caught.value.details()
    assert failure.info is not None and failure.info.domain == "rapport.identity.v1"
    return failure


@pytest.fixture
def fails() -> Callable[[Awaitable[object], grpc.StatusCode], Awaitable[RpcFailure]]:
    """``await fails(stub.X(...), grpc.StatusCode.NOT_FOUND)`` -> RpcFailure."""
    return _fails
