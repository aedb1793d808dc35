"""The identity service on PostgreSQL: core scenario, concurrent resolves on two replicas."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

PARENT = "workspaces/default"


def ident(type_: str, value: str) -> pb.Identifier:
    return pb.Identifier(type=type_, value=value)


@asynccontextmanager
async def replica(settings: IdentitySettings) -> AsyncIterator[pb_grpc.IdentityServiceStub]:
    async with (
        serve_in_process(build, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.IdentityServiceStub(channel)


def pg_settings(postgres_url: str, pg_schema: str) -> IdentitySettings:
    return IdentitySettings(database_url=postgres_url, database_schema=pg_schema)


async def lift_limits(stub: pb_grpc.IdentityServiceStub) -> None:
    """These tests chain many identifiers of one type into one customer: no limits."""
    rules = await stub.GetIdentityRules(
        pb.GetIdentityRulesRequest(name=f"{PARENT}/identityRules")
    )
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
