"""The identity service on PostgreSQL: core scenario, concurrent resolves on two replicas."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.identity.adapters.tables import identity_changes
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

from .._identity_support import expect_invalid, ident, replica, store_rows, watch

PARENT = "workspaces/default"


def pg_settings(postgres_url: str, pg_schema: str) -> IdentitySettings:
    return IdentitySettings(database_url=postgres_url, database_schema=pg_schema)


async def lift_limits(stub: pb_grpc.IdentityServiceStub) -> None:
    """These tests chain many identifiers of one type into one customer: no limits."""
    rules = await stub.GetIdentityRules(pb.GetIdentityRulesRequest(name=f"{PARENT}/identityRules"))
    for rule in rules.identifier_types:
        rule.limit = 0
    await stub.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))


async def all_live(stub: pb_grpc.IdentityServiceStub) -> list[pb.Customer]:
    listed = await stub.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=1000))
    assert not listed.next_page_token
    return list(listed.customers)


async def test_core_scenario_on_postgres(postgres_url, pg_schema, core_scenario) -> None:
    async with replica(pg_settings(postgres_url, pg_schema)) as stub:
        await core_scenario(stub)


async def test_pagination_and_bad_input_on_postgres(postgres_url, pg_schema, fails) -> None:
    async with replica(pg_settings(postgres_url, pg_schema)) as stub:
        made = []
        for i in range(5):
            got = await stub.Resolve(
                pb.ResolveRequest(parent=PARENT, identifiers=[ident("user_id", f"u{i}")])
            )
            made.append(got.customer.name)
        seen, token = [], ""
        while True:
            page = await stub.ListCustomers(
                pb.ListCustomersRequest(parent=PARENT, page_size=2, page_token=token)
            )
            seen += [c.name for c in page.customers]
            token = page.next_page_token
            if not token:
                break
        assert seen == made

        bad = pb.BatchResolveRequest(
            parent=PARENT,
            requests=[
                pb.ResolveRequest(identifiers=[ident("user_id", "u0"), ident("user_id", "u1")]),
                pb.ResolveRequest(identifiers=[ident("email", "broken")]),
            ],
        )
        failure = await fails(stub.BatchResolve(bad), grpc.StatusCode.INVALID_ARGUMENT)
        assert failure.field == "requests[1].identifiers[0].value"
        assert len(await all_live(stub)) == 5  # the valid merge in request 0 was not applied


async def test_concurrent_overlapping_resolves_on_two_replicas_end_in_one_customer(
    postgres_url, pg_schema
) -> None:
    settings = pg_settings(postgres_url, pg_schema)
    async with replica(settings) as first, replica(settings) as second:
        await lift_limits(first)
        # Call i links id i and id i+1: together they connect all 51 identifiers.
        calls = [
            (first if i % 2 else second).Resolve(
                pb.ResolveRequest(
                    parent=PARENT,
                    identifiers=[
                        ident("anonymous_id", f"a{i}"),
                        ident("anonymous_id", f"a{i + 1}"),
                    ],
                    source="race",
                )
            )
            for i in range(50)
        ]
        random.Random(7).shuffle(calls)  # not in chain order, so merges really happen
        results = await asyncio.gather(*calls)

        live = await all_live(first)
        assert len(live) == 1
        assert {i.value for i in live[0].identifiers} == {f"a{i}" for i in range(51)}
        # Every customer any call saw (created or merged away) now resolves to the survivor.
        for result in results:
            for name in (result.customer.name, *result.merged_customers):
                got = await second.GetCustomer(pb.GetCustomerRequest(name=name))
                assert got.name == live[0].name


async def test_concurrent_batches_on_two_replicas_end_in_one_customer(
    postgres_url, pg_schema
) -> None:
    settings = pg_settings(postgres_url, pg_schema)
    async with replica(settings) as first, replica(settings) as second:
        await lift_limits(first)

        def batch(start: int) -> pb.BatchResolveRequest:
            return pb.BatchResolveRequest(
                parent=PARENT,
                requests=[
                    pb.ResolveRequest(
                        identifiers=[ident("device_id", f"d{i}"), ident("device_id", f"d{i + 1}")]
                    )
                    for i in range(start, start + 10)
                ],
            )

        await asyncio.gather(
            *((first if k % 2 else second).BatchResolve(batch(k * 10)) for k in range(6))
        )
        live = await all_live(second)
        assert len(live) == 1
        assert len(live[0].identifiers) == 61


async def test_values_postgres_cannot_store_are_refused_and_the_extreme_times_are_kept(
    postgres_url, pg_schema
) -> None:
    """NUL characters (PostgreSQL text cannot hold them) are INVALID_ARGUMENT, not INTERNAL;
    the first and last instants a Timestamp can hold are stored and read back."""
    async with replica(pg_settings(postgres_url, pg_schema)) as stub:
        for request, field in (
            (
                pb.ResolveRequest(parent=PARENT, identifiers=[ident("user_id", "u\x00")]),
                "identifiers[0].value",
            ),
            (
                pb.ResolveRequest(
                    parent=PARENT, identifiers=[ident("user_id", "u")], source="\x00"
                ),
                "source",
            ),
            (
                pb.ResolveRequest(
                    parent=PARENT,
                    identifiers=[ident("user_id", "u")],
                    attributes=pb.PersonAttributes(given_name="A\x00"),
                ),
                "attributes.given_name",
            ),
        ):
            await expect_invalid(stub.Resolve(request), field)
        await expect_invalid(
            stub.LookupCustomer(
                pb.LookupCustomerRequest(parent=PARENT, identifier=ident("device_id", "\x00"))
            ),
            "identifier.value",
        )
        assert await all_live(stub) == []

        first = await stub.Resolve(
            pb.ResolveRequest(
                parent=PARENT,
                identifiers=[ident("device_id", "d1")],
                observe_time=Timestamp(seconds=-62_135_596_800),
                attributes=pb.PersonAttributes(given_name="First"),
            )
        )
        linked = await stub.Resolve(
            pb.ResolveRequest(
                parent=PARENT,
                identifiers=[ident("device_id", "d1"), ident("device_id", "d2")],
                observe_time=Timestamp(seconds=253_402_300_799, nanos=999_999_999),
                attributes=pb.PersonAttributes(given_name="Last"),
            )
        )
        assert linked.customer.name == first.customer.name
        assert linked.customer.attributes.given_name == "Last"


async def test_a_change_of_an_unknown_kind_is_skipped_on_postgres(postgres_url, pg_schema) -> None:
    settings = pg_settings(postgres_url, pg_schema)
    async with replica(settings) as stub:
        await store_rows(
            settings,
            identity_changes,
            {
                "workspace": "default",
                "kind": "future-kind",
                "customer_id": "c1",
                "change_time": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
        created = await stub.Resolve(
            pb.ResolveRequest(parent=PARENT, identifiers=[ident("device_id", "d1")])
        )
        [response] = await watch(stub, 1)
        assert response.change.customer == created.customer.name
        assert (response.change.cursor, response.skipped_change_count) == ("2", 1)
