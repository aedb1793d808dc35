"""A Segment alias (previous id -> user id) resolved through gRPC (SQLite).

Profile sends an alias as one observation: its user id and its previous id. Resolve
links what it can and leaves the rest out, so under the default rules (one user_id
per customer) an alias whose previous id belongs to another user created a customer
holding the new user id only, while its answer said the alias was refused. With
``link_all_or_nothing`` a refused observation creates and changes nothing.
"""

from __future__ import annotations

import grpc
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._identity_support import ident

PARENT = "workspaces/default"


def resolve(*identifiers: identifier_pb2.Identifier, **kw: object) -> pb.ResolveRequest:
    return pb.ResolveRequest(parent=PARENT, identifiers=list(identifiers), source="test", **kw)


async def live_customers(stub) -> list[pb.Customer]:
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1000))
    return list(listed.customers)


async def owner(stub, identifier: identifier_pb2.Identifier) -> str | None:
    try:
        found = await stub.LookupCustomer(
            pb.LookupCustomerRequest(parent=PARENT, identifier=identifier)
        )
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
        return None
    return found.name


async def test_without_the_option_a_refused_alias_creates_a_customer_of_the_new_id(stub) -> None:
    """The corner itself: Resolve's documented partial linking, kept as the default."""
    known = await stub.Resolve(resolve(ident("user_id", "ann"), ident("anonymous_id", "anon-1")))
    # alias(previousId="anon-1", userId="bob"): anon-1's customer already has a user id.
    alias = await stub.Resolve(resolve(ident("user_id", "bob"), ident("anonymous_id", "anon-1")))
    assert [(r.identifier.value, r.reason) for r in alias.rejected_identifiers] == [
        ("anon-1", "LIMIT_EXCEEDED")
    ]
    assert alias.created  # a customer holding only the new user id
    assert [(i.type, i.value) for i in alias.customer.identifiers] == [("user_id", "bob")]
    assert len(await live_customers(stub)) == 2
    assert await owner(stub, ident("anonymous_id", "anon-1")) == known.customer.name


async def test_a_refused_alias_from_an_anonymous_id_creates_nothing(stub) -> None:
    known = await stub.Resolve(resolve(ident("user_id", "ann"), ident("anonymous_id", "anon-1")))
    alias = await stub.Resolve(
        resolve(ident("user_id", "bob"), ident("anonymous_id", "anon-1"), link_all_or_nothing=True)
    )
    assert not alias.HasField("customer")
    assert not alias.created and not alias.merged_customers
    assert [(r.identifier.value, r.reason) for r in alias.rejected_identifiers] == [
        ("anon-1", "LIMIT_EXCEEDED")
    ]
    assert await live_customers(stub) == [known.customer]  # unchanged, update_time included
    assert await owner(stub, ident("user_id", "bob")) is None


async def test_a_refused_alias_from_a_previous_user_id_creates_nothing(stub) -> None:
    # "bob" sorts before "carl": without the option "bob" was linked to a new customer
    # first and "carl" (the previous user id) left out.
    known = await stub.Resolve(resolve(ident("user_id", "carl")))
    alias = await stub.Resolve(
        resolve(ident("user_id", "bob"), ident("user_id", "carl"), link_all_or_nothing=True)
    )
    assert not alias.HasField("customer")
    assert [(r.identifier.value, r.reason) for r in alias.rejected_identifiers] == [
        ("carl", "LIMIT_EXCEEDED")
    ]
    assert await live_customers(stub) == [known.customer]


async def test_a_refused_alias_changes_no_existing_customer(stub) -> None:
    ann = await stub.Resolve(resolve(ident("user_id", "ann")))
    bob = await stub.Resolve(resolve(ident("user_id", "bob")))
    # The alias also carries a device id: without the option it went to ann's customer.
    alias = await stub.Resolve(
        resolve(
            ident("user_id", "bob"),
            ident("device_id", "phone-7"),
            ident("user_id", "ann"),
            link_all_or_nothing=True,
        )
    )
    assert not alias.HasField("customer")
    assert [r.identifier.value for r in alias.rejected_identifiers] == ["bob"]
    assert await live_customers(stub) == [ann.customer, bob.customer]
    assert await owner(stub, ident("device_id", "phone-7")) is None


async def test_a_blocked_or_kept_apart_identifier_refuses_the_whole_observation(stub) -> None:
    blocked = await stub.Resolve(
        resolve(ident("user_id", "bob"), ident("user_id", "null"), link_all_or_nothing=True)
    )
    assert not blocked.HasField("customer")
    assert [r.reason for r in blocked.rejected_identifiers] == ["BLOCKED_VALUE"]

    first = await stub.Resolve(resolve(ident("anonymous_id", "a1")))
    second = await stub.Resolve(resolve(ident("anonymous_id", "a2")))
    merged = await stub.Resolve(resolve(ident("anonymous_id", "a1"), ident("anonymous_id", "a2")))
    await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=merged.customer.name))
    apart = await stub.Resolve(
        resolve(
            ident("anonymous_id", "a1"),
            ident("anonymous_id", "a2"),
            ident("email", "new@x.io"),
            link_all_or_nothing=True,
        )
    )
    assert not apart.HasField("customer")
    assert [r.reason for r in apart.rejected_identifiers] == ["KEPT_APART"]
    assert await owner(stub, ident("email", "new@x.io")) is None
    assert {c.name for c in await live_customers(stub)} == {
        first.customer.name,
        second.customer.name,
    }


async def test_an_alias_that_can_be_linked_whole_merges_as_usual(stub) -> None:
    visitor = await stub.Resolve(resolve(ident("anonymous_id", "anon-1")))
    bob = await stub.Resolve(resolve(ident("user_id", "bob")))
    alias = await stub.Resolve(
        resolve(ident("user_id", "bob"), ident("anonymous_id", "anon-1"), link_all_or_nothing=True)
    )
    assert alias.customer.name == visitor.customer.name  # the older survives
    assert list(alias.merged_customers) == [bob.customer.name]
    assert not alias.rejected_identifiers
    fresh = await stub.Resolve(
        resolve(ident("user_id", "dan"), ident("anonymous_id", "anon-9"), link_all_or_nothing=True)
    )
    assert fresh.created
    assert len(fresh.customer.identifiers) == 2


async def test_batch_applies_the_option_per_observation(stub) -> None:
    await stub.Resolve(resolve(ident("user_id", "ann"), ident("anonymous_id", "anon-1")))
    refused_alias = resolve(
        ident("user_id", "bob"), ident("anonymous_id", "anon-1"), link_all_or_nothing=True
    )
    got = await stub.BatchResolve(
        pb.BatchResolveRequest(
            parent=PARENT,
            requests=[
                refused_alias,
                # Without the option, in the same unit of work: linked partially as before.
                resolve(ident("user_id", "bob"), ident("anonymous_id", "anon-1")),
                refused_alias,
            ],
        )
    )
    first, plain, again = got.responses
    assert not first.HasField("customer")
    # The refused observation left nothing for the next one to find: bob is new here.
    assert plain.created
    assert [(i.type, i.value) for i in plain.customer.identifiers] == [("user_id", "bob")]
    # bob now has a customer of its own, still kept from anon-1's: refused again.
    assert not again.HasField("customer")
    assert [r.identifier.value for r in again.rejected_identifiers] == ["anon-1"]
    assert len(await live_customers(stub)) == 2
