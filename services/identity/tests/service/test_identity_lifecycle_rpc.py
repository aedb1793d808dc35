"""UnmergeCustomer, EraseCustomer and WatchChanges through the real gRPC server (SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import grpc
import pytest
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

from .._identity_support import ident, watch

PARENT = "workspaces/default"


def pairs(customer: pb.Customer) -> set[tuple[str, str]]:
    return {(i.type, i.value) for i in customer.identifiers}


async def resolve(stub, *identifiers: tuple[str, str]) -> pb.ResolveResponse:
    return await stub.Resolve(
        pb.ResolveRequest(parent=PARENT, identifiers=[ident(t, v) for t, v in identifiers])
    )


async def lookup(stub, type_: str, value: str) -> pb.Customer:
    return await stub.LookupCustomer(
        pb.LookupCustomerRequest(parent=PARENT, identifier=ident(type_, value))
    )


async def merged_pair(stub) -> tuple[str, str]:
    """S (user_id s, email s@x) absorbs B (device_id b): returns their names."""
    s = await resolve(stub, ("user_id", "s"), ("email", "s@x.io"))
    b = await resolve(stub, ("device_id", "b"))
    merged = await resolve(stub, ("email", "s@x.io"), ("device_id", "b"))
    assert merged.customer.name == s.customer.name
    assert list(merged.merged_customers) == [b.customer.name]
    return s.customer.name, b.customer.name


# --- UnmergeCustomer ---------------------------------------------------------------


async def test_unmerge_restores_the_merged_customer_with_its_identifiers(stub) -> None:
    s, b = await merged_pair(stub)
    # Warm the lookup cache: the unmerge must invalidate it.
    assert (await lookup(stub, "device_id", "b")).name == s

    response = await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s))

    assert response.customer.name == s
    assert pairs(response.customer) == {("user_id", "s"), ("email", "s@x.io")}
    assert list(response.customer.merged_customers) == []
    assert [c.name for c in response.restored_customers] == [b]
    assert pairs(response.restored_customers[0]) == {("device_id", "b")}
    assert (await lookup(stub, "device_id", "b")).name == b
    assert (await stub.GetCustomer(pb.GetCustomerRequest(name=b))).name == b
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert {c.name for c in listed.customers} == {s, b}


async def test_unmerge_of_nested_merges_sends_earlier_merges_back_with_their_customer(
    stub,
) -> None:
    s = (await resolve(stub, ("user_id", "s"))).customer.name
    c = (await resolve(stub, ("device_id", "c"))).customer.name
    d = (await resolve(stub, ("anonymous_id", "d"))).customer.name
    into_c = await resolve(stub, ("device_id", "c"), ("anonymous_id", "d"))
    assert into_c.customer.name == c and list(into_c.merged_customers) == [d]
    into_s = await resolve(stub, ("user_id", "s"), ("device_id", "c"))
    assert into_s.customer.name == s
    assert set(into_s.customer.merged_customers) == {c, d}

    response = await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s, customers=[c]))

    assert pairs(response.customer) == {("user_id", "s")}
    [restored] = response.restored_customers
    assert restored.name == c
    assert pairs(restored) == {("device_id", "c"), ("anonymous_id", "d")}
    assert list(restored.merged_customers) == [d]  # D was merged into C first
    assert (await stub.GetCustomer(pb.GetCustomerRequest(name=d))).name == c

    # And C can be split again, giving D back its own identifiers.
    again = await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=c))
    assert [r.name for r in again.restored_customers] == [d]
    assert pairs(again.restored_customers[0]) == {("anonymous_id", "d")}


async def test_partial_unmerge_keeps_the_other_merged_customers(stub) -> None:
    s = (await resolve(stub, ("user_id", "s"))).customer.name
    a = (await resolve(stub, ("device_id", "a"))).customer.name
    b = (await resolve(stub, ("anonymous_id", "b"))).customer.name
    await resolve(stub, ("user_id", "s"), ("device_id", "a"), ("anonymous_id", "b"))

    response = await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s, customers=[a]))

    assert [r.name for r in response.restored_customers] == [a]
    assert pairs(response.customer) == {("user_id", "s"), ("anonymous_id", "b")}
    assert list(response.customer.merged_customers) == [b]


async def test_identifiers_linked_after_the_merge_stay_with_the_survivor(stub) -> None:
    s, b = await merged_pair(stub)
    await resolve(stub, ("device_id", "b"), ("phone", "+16502530000"))  # linked to S now

    response = await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s))

    assert ("phone", "+16502530000") in pairs(response.customer)
    assert pairs(response.restored_customers[0]) == {("device_id", "b")}


async def test_separation_prevents_re_merge_after_unmerge(stub) -> None:
    s, b = await merged_pair(stub)
    await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s))

    again = await resolve(stub, ("email", "s@x.io"), ("device_id", "b"))

    assert list(again.merged_customers) == []
    assert [r.reason for r in again.rejected_identifiers] == ["KEPT_APART"]
    assert (await lookup(stub, "device_id", "b")).name == b
    assert (await lookup(stub, "email", "s@x.io")).name == s


async def test_unmerge_errors(stub, fails) -> None:
    s, b = await merged_pair(stub)
    other = (await resolve(stub, ("device_id", "z"))).customer.name

    failure = await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=f"{PARENT}/customers/nobody")),
        grpc.StatusCode.NOT_FOUND,
    )
    failure = await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=b)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert failure.info.reason == "CUSTOMER_MERGED"
    assert failure.info.metadata["survivor"] == s
    failure = await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=other)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert failure.info.reason == "NOTHING_TO_UNMERGE"
    failure = await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s, customers=[b, other])),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert failure.field == "customers[1]"
    failure = await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s, customers=["nonsense"])),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert failure.field == "customers[0]"
    failure = await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name="customers/x")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert failure.field == "name"
    await fails(
        stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name="workspaces/nope/customers/x")),
        grpc.StatusCode.NOT_FOUND,
    )
    # Bad input changed nothing.
    still = await stub.GetCustomer(pb.GetCustomerRequest(name=s))
    assert list(still.merged_customers) == [b]
    assert ("device_id", "b") in pairs(still)


# --- EraseCustomer -----------------------------------------------------------------


async def test_erase_deletes_the_customer_and_the_customers_merged_into_it(stub, fails) -> None:
    s, b = await merged_pair(stub)
    assert (await lookup(stub, "email", "s@x.io")).name == s  # cached

    response = await stub.EraseCustomer(pb.EraseCustomerRequest(name=s))

    assert response.name == s and response.erased_identifier_count == 3
    for name in (s, b):
        await fails(stub.GetCustomer(pb.GetCustomerRequest(name=name)), grpc.StatusCode.NOT_FOUND)
    for type_, value in (("email", "s@x.io"), ("device_id", "b"), ("user_id", "s")):
        await fails(lookup(stub, type_, value), grpc.StatusCode.NOT_FOUND)
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT))
    assert list(listed.customers) == []
    await fails(stub.EraseCustomer(pb.EraseCustomerRequest(name=s)), grpc.StatusCode.NOT_FOUND)

    # Not blocked: the identifiers may be linked again, to a new customer.
    again = await resolve(stub, ("email", "s@x.io"))
    assert again.created and again.customer.name not in (s, b)


async def test_erase_with_block_keeps_the_identifiers_from_being_linked_again(stub, fails) -> None:
    s, _ = await merged_pair(stub)
    await stub.EraseCustomer(pb.EraseCustomerRequest(name=s, block_identifiers=True))

    again = await resolve(stub, ("email", " S@x.io "), ("device_id", "fresh"))

    assert {(r.identifier.type, r.reason) for r in again.rejected_identifiers} == {
        ("email", "ERASED_BLOCKED")
    }
    assert pairs(again.customer) == {("device_id", "fresh")}
    await fails(lookup(stub, "email", "s@x.io"), grpc.StatusCode.NOT_FOUND)


async def test_erase_errors(stub, fails) -> None:
    s, b = await merged_pair(stub)
    failure = await fails(
        stub.EraseCustomer(pb.EraseCustomerRequest(name=b)), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert failure.info.reason == "CUSTOMER_MERGED"
    assert failure.info.metadata["survivor"] == s
    failure = await fails(
        stub.EraseCustomer(pb.EraseCustomerRequest(name="")), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert failure.field == "name"
    assert (await lookup(stub, "device_id", "b")).name == s  # nothing changed


# --- WatchChanges ------------------------------------------------------------------


async def read_changes(stub, count: int, cursor: str = ""):
    return [response.change for response in await watch(stub, count, start_cursor=cursor)]


async def test_watch_changes_streams_every_kind_and_resumes_without_gaps(stub) -> None:
    s, b = await merged_pair(stub)
    await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s))
    await stub.EraseCustomer(pb.EraseCustomerRequest(name=b))

    changes = await read_changes(stub, 5)
    assert [(c.kind, c.customer, list(c.other_customers)) for c in changes] == [
        (pb.CHANGE_KIND_CREATED, s, []),
        (pb.CHANGE_KIND_CREATED, b, []),
        (pb.CHANGE_KIND_MERGED, s, [b]),
        (pb.CHANGE_KIND_UNMERGED, s, [b]),
        (pb.CHANGE_KIND_ERASED, b, []),
    ]
    cursors = [int(c.cursor) for c in changes]
    assert cursors == sorted(cursors) and len(set(cursors)) == 5

    resumed = await read_changes(stub, 3, cursor=changes[1].cursor)
    assert [c.cursor for c in resumed] == [c.cursor for c in changes[2:]]


@pytest.fixture
async def slow_poll_stub(tmp_path: Path):
    # Polling every 30 s: a change seen within 2 s was delivered by the commit wake-up.
    settings = IdentitySettings(data_dir=tmp_path, watch_poll_seconds=30)
    async with (
        serve_in_process(build, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.IdentityServiceStub(channel), server


async def test_watch_changes_delivers_new_changes_live(slow_poll_stub) -> None:
    stub, _ = slow_poll_stub
    first = await resolve(stub, ("device_id", "one"))
    [seen] = await read_changes(stub, 1)
    call = stub.WatchChanges(pb.WatchChangesRequest(parent=PARENT, start_cursor=seen.cursor))
    try:
        reader = asyncio.ensure_future(call.read())
        await asyncio.sleep(0.3)
        assert not reader.done()
        second = await resolve(stub, ("device_id", "two"))
        response = await asyncio.wait_for(reader, 2)
        assert response.change.customer == second.customer.name
        assert response.change.kind == pb.CHANGE_KIND_CREATED
        assert first.customer.name != second.customer.name
    finally:
        call.cancel()


async def test_identity_rules_updates_are_streamed_live_and_refused_ones_are_not(
    slow_poll_stub,
) -> None:
    stub, _ = slow_poll_stub
    await resolve(stub, ("device_id", "one"))
    [seen] = await read_changes(stub, 1)
    rules_name = f"{PARENT}/identityRules"
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=rules_name))
    call = stub.WatchChanges(pb.WatchChangesRequest(parent=PARENT, start_cursor=seen.cursor))
    try:
        reader = asyncio.ensure_future(call.read())
        refused = pb.IdentityRules()
        refused.CopyFrom(rules)
        refused.matching.merge_threshold = 2.0  # a probability: refused
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=refused))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        await asyncio.sleep(0.3)
        assert not reader.done()

        rules.matching.review_threshold = 0.5
        await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))
        response = await asyncio.wait_for(reader, 2)
        assert response.change.kind == pb.CHANGE_KIND_RULES_UPDATED
        assert response.change.customer == ""
        assert list(response.change.other_customers) == []
        assert int(response.change.cursor) > int(seen.cursor)
    finally:
        call.cancel()


async def test_watch_changes_ends_with_unavailable_when_the_server_stops(slow_poll_stub) -> None:
    stub, server = slow_poll_stub
    await resolve(stub, ("device_id", "one"))
    call = stub.WatchChanges(pb.WatchChangesRequest(parent=PARENT))
    first = await call.read()
    assert first.change.kind == pb.CHANGE_KIND_CREATED
    reader = asyncio.ensure_future(call.read())
    await asyncio.sleep(0.1)
    await asyncio.wait_for(server.stop(grace=5), 10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(reader, 5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_watch_changes_rejects_bad_cursors(stub, fails) -> None:
    await resolve(stub, ("device_id", "one"))
    for cursor in ("abc", "-1", "0", "999999"):
        call = stub.WatchChanges(pb.WatchChangesRequest(parent=PARENT, start_cursor=cursor))
        failure = await fails(call.read(), grpc.StatusCode.INVALID_ARGUMENT)
        assert failure.field == "start_cursor"
    call = stub.WatchChanges(pb.WatchChangesRequest(parent="workspaces/nope"))
    await fails(call.read(), grpc.StatusCode.NOT_FOUND)


async def test_watch_changes_of_another_workspace_are_separate(stub) -> None:
    await resolve(stub, ("device_id", "one"))
    other = await stub.Resolve(
        pb.ResolveRequest(parent="workspaces/other", identifiers=[ident("device_id", "one")])
    )
    call = stub.WatchChanges(pb.WatchChangesRequest(parent="workspaces/other"))
    try:
        response = await asyncio.wait_for(call.read(), 5)
    finally:
        call.cancel()
    assert response.change.customer == other.customer.name


@pytest.mark.parametrize("method", ["UnmergeCustomer", "EraseCustomer", "WatchChanges"])
def test_lifecycle_methods_have_scopes(method: str) -> None:
    from rapport.identity.bootstrap import METHOD_SCOPES

    expected = "identity.read" if method == "WatchChanges" else "identity.admin"
    assert METHOD_SCOPES[f"/rapport.identity.v1.IdentityService/{method}"] == expected


async def test_erase_leaves_only_ids_in_the_change_log(stub, identity_settings) -> None:
    s, b = await merged_pair(stub)
    c = (await resolve(stub, ("device_id", "c"))).customer.name
    await resolve(stub, ("device_id", "c"), ("user_id", "s"))
    await stub.UnmergeCustomer(pb.UnmergeCustomerRequest(name=s, customers=[c]))  # separation
    await stub.EraseCustomer(pb.EraseCustomerRequest(name=s, block_identifiers=True))

    ids = {name.rsplit("/", 1)[1] for name in (s, b)}
    database = sqlite3.connect(identity_settings.data_dir / "identity.db")
    try:
        rows = {
            table: database.execute(f"SELECT * FROM {table}").fetchall()
            for table in ("customers", "identifiers", "merges", "separations")
        }
        changes = database.execute(
            "SELECT kind, customer_id FROM identity_changes WHERE kind = 'erased'"
        ).fetchall()
        blocked = database.execute("SELECT type, value_digest, reason FROM blocked_identifiers")
        blocked = blocked.fetchall()
    finally:
        database.close()
    for table, table_rows in rows.items():
        assert not any(i in str(row) for row in table_rows for i in ids), table
    assert not any("s@x.io" in str(row) for table_rows in rows.values() for row in table_rows)
    assert sorted(customer for _, customer in changes) == sorted(ids)
    assert sorted(type_ for type_, _, _ in blocked) == ["device_id", "email", "user_id"]
    assert all(len(digest) == 64 and reason == "ERASED" for _, digest, reason in blocked)
    # The restored customer is untouched.
    kept = await stub.GetCustomer(pb.GetCustomerRequest(name=c))
    assert pairs(kept) == {("device_id", "c")}
