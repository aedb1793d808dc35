"""Identity rules on PostgreSQL: limits under concurrency, rules shared by replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.identity.v1 import identity_service_pb2_grpc as pb_grpc

PARENT = "workspaces/default"
RULES = f"{PARENT}/identityRules"


def ident(type_: str, value: str) -> pb.Identifier:
    return pb.Identifier(type=type_, value=value)


@asynccontextmanager
async def replica(postgres_url: str, pg_schema: str) -> AsyncIterator[pb_grpc.IdentityServiceStub]:
    settings = IdentitySettings(database_url=postgres_url, database_schema=pg_schema)
    async with (
        serve_in_process(build, settings) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.IdentityServiceStub(channel)


async def test_concurrent_resolves_never_break_the_user_id_limit(postgres_url, pg_schema) -> None:
    async with (
        replica(postgres_url, pg_schema) as first,
        replica(postgres_url, pg_schema) as second,
    ):
        # Twenty users all claim the same email and device at once.
        calls = [
            (first if i % 2 else second).Resolve(
                pb.ResolveRequest(
                    parent=PARENT,
                    identifiers=[
                        ident("user_id", f"u{i}"),
                        ident("email", "shared@x.io"),
                        ident("device_id", "shared-device"),
                    ],
                    attributes=pb.PersonAttributes(given_name=f"N{i}"),
                )
            )
            for i in range(20)
        ]
        results = await asyncio.gather(*calls)
        listed = await first.ListCustomers(pb.ListCustomersRequest(parent=PARENT, page_size=100))
        assert len(listed.customers) == 20
        owners = {}
        for customer in listed.customers:
            user_ids = [i.value for i in customer.identifiers if i.type == "user_id"]
            assert len(user_ids) == 1
            assert customer.attributes.given_name == "N" + user_ids[0][1:]
            for identifier in customer.identifiers:
                assert (identifier.type, identifier.value) not in owners
                owners[(identifier.type, identifier.value)] = customer.name
        assert ("email", "shared@x.io") in owners and ("device_id", "shared-device") in owners
        rejected = sum(len(r.rejected_identifiers) for r in results)
        assert rejected == 19 * 2  # everyone but the first keeps only their user id


async def test_rules_updated_on_one_replica_reach_the_other(postgres_url, pg_schema) -> None:
    async with (
        replica(postgres_url, pg_schema) as first,
        replica(postgres_url, pg_schema) as second,
    ):
        before = await second.Resolve(
            pb.ResolveRequest(parent=PARENT, identifiers=[ident("device_id", "d1")])
        )
        assert before.created
        rules = await first.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
        rules.identifier_types.append(
            pb.IdentifierTypeRule(type="crm_id", normalization=pb.NORMALIZATION_LOWERCASE)
        )
        await first.UpdateIdentityRules(pb.UpdateIdentityRulesRequest(identity_rules=rules))
        got = await first.Resolve(
            pb.ResolveRequest(parent=PARENT, identifiers=[ident("crm_id", "C1")])
        )
        assert got.customer.identifiers[0].value == "c1"  # at once on the updating replica
        await asyncio.sleep(2.2)  # the other replica re-reads rules older than 2 s
        got = await second.Resolve(
            pb.ResolveRequest(
                parent=PARENT, identifiers=[ident("crm_id", "C1"), ident("device_id", "d1")]
            )
        )
        assert {i.value for i in got.customer.identifiers} == {"c1", "d1"}
        stored = await second.GetIdentityRules(pb.GetIdentityRulesRequest(name=RULES))
        assert stored.identifier_types[-1].type == "crm_id"
        assert stored.HasField("update_time")
