"""Resolve and BatchResolve through the real gRPC server (SQLite)."""

from __future__ import annotations

import grpc
import pytest
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._identity_support import ident

PARENT = "workspaces/default"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def resolve(
    *identifiers: identifier_pb2.Identifier, parent: str = PARENT, **kw: object
) -> pb.ResolveRequest:
    return pb.ResolveRequest(parent=parent, identifiers=list(identifiers), **kw)


async def names(stub, parent: str = PARENT) -> list[str]:
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=parent, page_size=1000))
    return [c.name for c in listed.customers]


async def test_core_scenario(stub, core_scenario) -> None:
    await core_scenario(stub)


async def test_resolving_the_same_identifiers_again_returns_the_same_customer(stub) -> None:
    first = await stub.Resolve(resolve(ident("user_id", "u1")))
    again = await stub.Resolve(resolve(ident("user_id", " u1 ")))
    assert first.created and not again.created
    assert again.customer.name == first.customer.name
    assert again.customer.update_time == first.customer.update_time  # nothing changed
    assert first.customer.name.startswith("workspaces/default/customers/")
    assert first.customer.create_time.seconds > 0


async def test_duplicate_identifiers_in_one_request_are_linked_once(stub) -> None:
    got = await stub.Resolve(
        resolve(ident("email", "A@x.io"), ident("email", "a@x.io "), ident("user_id", "u1"))
    )
    assert [(i.type, i.value) for i in got.customer.identifiers] == [
        ("email", "a@x.io"),
        ("user_id", "u1"),
    ]


async def test_merge_chain_follows_to_the_oldest_survivor(stub) -> None:
    c1 = (await stub.Resolve(resolve(ident("anonymous_id", "a1")))).customer.name
    c2 = (await stub.Resolve(resolve(ident("anonymous_id", "a2")))).customer.name
    c3 = (await stub.Resolve(resolve(ident("anonymous_id", "a3")))).customer.name

    m23 = await stub.Resolve(resolve(ident("anonymous_id", "a3"), ident("anonymous_id", "a2")))
    assert m23.customer.name == c2
    assert list(m23.merged_customers) == [c3]

    m12 = await stub.Resolve(resolve(ident("anonymous_id", "a2"), ident("anonymous_id", "a1")))
    assert m12.customer.name == c1
    assert list(m12.merged_customers) == [c2]  # only what this observation merged
    assert set(m12.customer.merged_customers) == {c2, c3}  # everything ever merged in
    assert {i.value for i in m12.customer.identifiers} == {"a1", "a2", "a3"}

    for name in (c1, c2, c3):
        got = await stub.GetCustomer(pb.GetCustomerRequest(name=name))
        assert got.name == c1
    assert await names(stub) == [c1]


async def test_one_observation_merging_three_customers(stub) -> None:
    made = [
        (await stub.Resolve(resolve(ident("device_id", f"d{i}")))).customer.name for i in range(3)
    ]
    got = await stub.Resolve(
        resolve(ident("device_id", "d2"), ident("device_id", "d0"), ident("device_id", "d1"))
    )
    assert got.customer.name == made[0]
    assert list(got.merged_customers) == made[1:]


async def test_workspaces_are_separate_graphs(stub) -> None:
    a = await stub.Resolve(resolve(ident("user_id", "u1")))
    b = await stub.Resolve(resolve(ident("user_id", "u1"), parent="workspaces/other"))
    assert b.created
    assert b.customer.name.startswith("workspaces/other/customers/")
    assert a.customer.name.split("/")[-1] != b.customer.name.split("/")[-1]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (resolve(), "identifiers"),
        (resolve(ident("user_id", "u1"), ident("crm_id", "c")), "identifiers[1].type"),
        (resolve(ident("", "u1")), "identifiers[0].type"),
        (resolve(ident("email", "not-an-email")), "identifiers[0].value"),
        (resolve(ident("phone", "12")), "identifiers[0].value"),
        (resolve(ident("user_id", "   ")), "identifiers[0].value"),
        (resolve(ident("user_id", "x" * 513)), "identifiers[0].value"),
        (resolve(ident("user_id", "u1"), parent=""), "parent"),
        (resolve(ident("user_id", "u1"), parent="workspace/default"), "parent"),
        (resolve(ident("user_id", "u1"), source="s" * 257), "source"),
    ],
)
async def test_bad_resolve_is_invalid_argument_and_changes_nothing(
    stub, fails, request_, field
) -> None:
    failure = await fails(stub.Resolve(request_), INVALID)
    assert failure.field == field
    assert failure.info.metadata["field"] == field
    assert await names(stub) == []


async def test_error_messages_do_not_echo_identifier_values(stub, fails) -> None:
    failure = await fails(stub.Resolve(resolve(ident("email", "secret person@x.io"))), INVALID)
    assert "secret" not in failure.error.details()


async def test_unknown_workspace_is_not_found(stub, fails) -> None:
    failure = await fails(
        stub.Resolve(resolve(ident("user_id", "u1"), parent="workspaces/nope")),
        grpc.StatusCode.NOT_FOUND,
    )
    assert failure.info.metadata["resource"] == "workspaces/nope"


# --- BatchResolve ------------------------------------------------------------


async def test_batch_resolves_in_order_later_requests_see_earlier_ones(stub) -> None:
    batch = pb.BatchResolveRequest(
        parent=PARENT,
        requests=[
            resolve(ident("user_id", "u1")),
            resolve(ident("email", "b@x.io"), parent=""),
            resolve(ident("user_id", "u1"), ident("email", "B@x.io"), parent=PARENT),
            resolve(ident("user_id", "u1")),
        ],
    )
    got = await stub.BatchResolve(batch)
    r0, r1, r2, r3 = got.responses
    assert r0.created and r1.created and not r2.created and not r3.created
    assert r2.customer.name == r0.customer.name
    assert list(r2.merged_customers) == [r1.customer.name]
    assert r3.customer.name == r0.customer.name
    assert len(r3.customer.identifiers) == 2
    assert await names(stub) == [r0.customer.name]


async def test_empty_batch_returns_no_responses(stub) -> None:
    got = await stub.BatchResolve(pb.BatchResolveRequest(parent=PARENT))
    assert list(got.responses) == []


@pytest.mark.parametrize(
    ("requests", "field"),
    [
        (
            [
                resolve(ident("user_id", "u1")),
                resolve(ident("user_id", "u2"), parent="workspaces/other"),
            ],
            "requests[1].parent",
        ),
        (
            [resolve(ident("user_id", "u1")), resolve(ident("user_id", "u2"), ident("fax", "1"))],
            "requests[1].identifiers[1].type",
        ),
        (
            [resolve(ident("user_id", "u1")), resolve(), resolve(ident("user_id", "u3"))],
            "requests[1].identifiers",
        ),
        (
            [resolve(ident("user_id", "u1")), resolve(ident("email", "nope"))],
            "requests[1].identifiers[0].value",
        ),
        ([resolve(ident("user_id", f"u{i}")) for i in range(1001)], "requests"),
    ],
)
async def test_bad_batch_request_writes_nothing(stub, fails, requests, field) -> None:
    failure = await fails(
        stub.BatchResolve(pb.BatchResolveRequest(parent=PARENT, requests=requests)), INVALID
    )
    assert failure.field == field
    assert await names(stub) == []  # request 0 was valid and still not applied


async def test_batch_of_1000_is_accepted(stub) -> None:
    # Pairs of requests share a user: 500 customers, each seen twice.
    requests = [
        resolve(ident("user_id", f"u{i // 2}"), ident("anonymous_id", f"a{i}")) for i in range(1000)
    ]
    got = await stub.BatchResolve(pb.BatchResolveRequest(parent=PARENT, requests=requests))
    assert len(got.responses) == 1000
    assert [r.created for r in got.responses[:4]] == [True, False, True, False]
    assert len(got.responses[1].customer.identifiers) == 3
    assert len(await names(stub)) == 500
