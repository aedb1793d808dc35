"""GetCustomer, LookupCustomer, ListCustomers and method scopes through the real server."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import grpc
import pytest
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import METHOD_SCOPES, build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc
from rapport.type.v1 import identifier_pb2

from .._identity_support import fails, ident, replica

PARENT = "workspaces/default"
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def lookup(identifier: identifier_pb2.Identifier, parent: str = PARENT) -> pb.LookupCustomerRequest:
    return pb.LookupCustomerRequest(parent=parent, identifier=identifier)


async def create(
    stub, *identifiers: identifier_pb2.Identifier, parent: str = PARENT
) -> pb.Customer:
    got = await stub.Resolve(pb.ResolveRequest(parent=parent, identifiers=list(identifiers)))
    return got.customer


# --- GetCustomer --------------------------------------------------------------


async def test_get_customer_returns_identifiers_and_times(stub) -> None:
    made = await create(stub, ident("user_id", "u1"), ident("phone", "+44 20 7946 0958"))
    got = await stub.GetCustomer(pb.GetCustomerRequest(name=made.name))
    assert got == made
    assert {(i.type, i.value) for i in got.identifiers} == {
        ("user_id", "u1"),
        ("phone", "+442079460958"),
    }


@pytest.mark.parametrize(
    ("name", "code", "field"),
    [
        ("", INVALID, "name"),
        ("workspaces/default", INVALID, "name"),
        ("workspaces/default/customers/UPPER", INVALID, "name"),
        ("workspaces/default/customers/0123abc", NOT_FOUND, None),
        ("workspaces/nope/customers/0123abc", NOT_FOUND, None),
    ],
)
async def test_get_customer_errors(stub, fails, name, code, field) -> None:
    failure = await fails(stub.GetCustomer(pb.GetCustomerRequest(name=name)), code)
    assert failure.field == field
    if code == NOT_FOUND:
        expected = "workspaces/nope" if "nope" in name else name
        assert failure.info.metadata["resource"] == expected


async def test_get_customer_of_another_workspace_is_not_found(stub, fails) -> None:
    made = await create(stub, ident("user_id", "u1"))
    other = made.name.replace("workspaces/default/", "workspaces/other/")
    await fails(stub.GetCustomer(pb.GetCustomerRequest(name=other)), NOT_FOUND)


# --- LookupCustomer -----------------------------------------------------------


async def test_lookup_normalises_like_resolve(stub) -> None:
    made = await create(stub, ident("email", "ann@example.com"), ident("user_id", "u1"))
    got = await stub.LookupCustomer(
        pb.LookupCustomerRequest(parent=PARENT, identifier=ident("email", " ANN@example.com"))
    )
    assert got == made


async def test_lookup_of_unlinked_identifier_is_not_found_without_echoing_it(stub, fails) -> None:
    await create(stub, ident("email", "ann@example.com"))
    failure = await fails(
        stub.LookupCustomer(
            pb.LookupCustomerRequest(parent=PARENT, identifier=ident("email", "bob@example.com"))
        ),
        NOT_FOUND,
    )
    assert "bob" not in failure.error.details()
    assert "no customer has this identifier" in failure.error.details()
    assert all("bob" not in value for value in failure.info.metadata.values())


async def test_lookup_does_not_create_anything(stub, fails) -> None:
    request = pb.LookupCustomerRequest(parent=PARENT, identifier=ident("user_id", "u9"))
    await fails(stub.LookupCustomer(request), NOT_FOUND)
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert list(listed.customers) == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.LookupCustomerRequest(parent=PARENT), "identifier.type"),
        (pb.LookupCustomerRequest(parent=PARENT, identifier=ident("fax", "1")), "identifier.type"),
        (
            pb.LookupCustomerRequest(parent=PARENT, identifier=ident("phone", "x")),
            "identifier.value",
        ),
        (
            pb.LookupCustomerRequest(parent=PARENT, identifier=ident("email", " ")),
            "identifier.value",
        ),
        (pb.LookupCustomerRequest(parent="x", identifier=ident("user_id", "u")), "parent"),
    ],
)
async def test_lookup_bad_input(stub, fails, request_, field) -> None:
    failure = await fails(stub.LookupCustomer(request_), INVALID)
    assert failure.field == field


# --- ListCustomers ------------------------------------------------------------


async def test_list_pages_through_live_customers_oldest_first(stub) -> None:
    made = [(await create(stub, ident("device_id", f"d{i}"))).name for i in range(7)]
    # Merge d5 into d1's customer: d5's customer must disappear from the list.
    await stub.Resolve(
        pb.ResolveRequest(
            parent=PARENT, identifiers=[ident("device_id", "d5"), ident("device_id", "d1")]
        )
    )
    expected = [name for i, name in enumerate(made) if i != 5]

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListCustomers(
            pb.ListCustomersRequest(parent=PARENT, page_size=2, page_token=token)
        )
        pages += 1
        assert len(page.customers) <= 2
        seen += [c.name for c in page.customers]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected
    assert pages == 3
    first = (await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))).customers[1]
    assert list(first.merged_customers) == [made[5]]
    assert len(first.identifiers) == 2


async def test_list_page_size_defaults_and_clamps(stub) -> None:
    requests = [pb.ResolveRequest(identifiers=[ident("device_id", f"d{i}")]) for i in range(55)]
    await stub.BatchResolve(pb.BatchResolveRequest(parent=PARENT, requests=requests))
    default = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert len(default.customers) == 50 and default.next_page_token
    huge = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=5000))
    assert len(huge.customers) == 55 and not huge.next_page_token


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListCustomersRequest(parent=PARENT, page_size=-1), "page_size"),
        (pb.ListCustomersRequest(parent=PARENT, page_token="garbage!"), "page_token"),
        (pb.ListCustomersRequest(parent=""), "parent"),
    ],
)
async def test_list_bad_input(stub, fails, request_, field) -> None:
    failure = await fails(stub.ListCustomers(request_), INVALID)
    assert failure.field == field


async def test_page_token_is_bound_to_its_parent(stub, fails) -> None:
    for i in range(3):
        await create(stub, ident("user_id", f"u{i}"))
    page = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1))
    assert page.next_page_token
    failure = await fails(
        stub.ListCustomers(
            pb.ListCustomersRequest(
                parent="workspaces/other", page_size=1, page_token=page.next_page_token
            )
        ),
        INVALID,
    )
    assert failure.field == "page_token"


async def test_list_unknown_workspace_is_not_found(stub, fails) -> None:
    await fails(stub.ListCustomers(pb.ListCustomersRequest(parent="workspaces/zzz")), NOT_FOUND)


async def test_page_tokens_are_sealed_and_shared_by_replicas_with_one_key(
    tmp_path: Path,
) -> None:
    def settings(key: str) -> IdentitySettings:
        return IdentitySettings(data_dir=tmp_path, page_token_key=key)

    async with (
        replica(settings("one key")) as first,
        replica(settings("one key")) as second,
        replica(settings("another key")) as third,
    ):
        made = [(await create(first, ident("user_id", f"u{i}"))).name for i in range(3)]
        page = await first.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1))
        token = page.next_page_token
        # Sealed: neither the position nor the customer id can be read from the token.
        assert made[0].rsplit("/", 1)[1] not in token
        with pytest.raises(ValueError):
            json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        following = await second.ListCustomers(
            pb.ListCustomersRequest(parent=PARENT, page_size=1, page_token=token)
        )
        assert [c.name for c in following.customers] == [made[1]]
        failure = await fails(
            third.ListCustomers(
                pb.ListCustomersRequest(parent=PARENT, page_size=1, page_token=token)
            ),
            INVALID,
        )
        assert failure.field == "page_token"
        # A readable token as earlier releases made them (a forgeable position) is refused.
        binding = hashlib.sha256(f"ListCustomers:{PARENT}".encode()).hexdigest()[:16]
        position = {"t": "1970-01-01T00:00:00+00:00", "c": ""}
        forged = base64.urlsafe_b64encode(json.dumps({"p": position, "b": binding}).encode())
        failure = await fails(
            first.ListCustomers(
                pb.ListCustomersRequest(parent=PARENT, page_token=forged.decode().rstrip("="))
            ),
            INVALID,
        )
        assert failure.field == "page_token"


# --- Method scopes --------------------------------------------------------------


async def test_read_scope_cannot_resolve(tmp_path: Path) -> None:
    settings = IdentitySettings(
        data_dir=tmp_path, auth_tokens={"reader": ["identity.read"], "writer": ["identity.write"]}
    )
    async with (
        serve_in_process(build, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.IdentityServiceStub(channel)
        request = pb.ResolveRequest(parent=PARENT, identifiers=[ident("user_id", "u1")])
        reader = (("authorization", "Bearer reader"),)
        writer = (("authorization", "Bearer writer"),)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Resolve(request, metadata=reader)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        made = await stub.Resolve(request, metadata=writer)
        got = await stub.GetCustomer(
            pb.GetCustomerRequest(name=made.customer.name), metadata=reader
        )
        assert got.name == made.customer.name
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT), metadata=writer)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_every_rpc_of_the_contract_has_a_scope() -> None:
    service = pb.DESCRIPTOR.services_by_name["IdentityService"]
    assert set(METHOD_SCOPES) == {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert set(METHOD_SCOPES.values()) == {"identity.read", "identity.write", "identity.admin"}


async def test_get_match_review_needs_the_read_scope(tmp_path: Path) -> None:
    settings = IdentitySettings(
        data_dir=tmp_path, auth_tokens={"reader": ["identity.read"], "writer": ["identity.write"]}
    )
    name = f"{PARENT}/matchReviews/unknown"
    async with replica(settings) as stub:
        request = pb.GetMatchReviewRequest(name=name)
        await fails(
            stub.GetMatchReview(request, metadata=(("authorization", "Bearer writer"),)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        failure = await fails(
            stub.GetMatchReview(request, metadata=(("authorization", "Bearer reader"),)),
            NOT_FOUND,
        )
        assert failure.info.metadata["resource"] == name
