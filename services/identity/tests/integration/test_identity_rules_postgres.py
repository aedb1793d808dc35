"""Identity rules on PostgreSQL: limits under concurrency, rules shared by replicas."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import grpc
import pytest
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as pb

from .._identity_support import Stub, fails, ident, replica

PARENT = "workspaces/default"
RULES = f"{PARENT}/identityRules"


def pg_replica(postgres_url: str, pg_schema: str) -> AbstractAsyncContextManager[Stub]:
    return replica(IdentitySettings(database_url=postgres_url, database_schema=pg_schema))


async def test_concurrent_resolves_never_break_the_user_id_limit(postgres_url, pg_schema) -> None:
    async with (
        pg_replica(postgres_url, pg_schema) as first,
        pg_replica(postgres_url, pg_schema) as second,
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
        pg_replica(postgres_url, pg_schema) as first,
        pg_replica(postgres_url, pg_schema) as second,
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


async def test_concurrent_first_updates_of_the_rules_never_fail_internally(
    postgres_url, pg_schema
) -> None:
    # Each workspace's first update inserts its row: two at once race on that insert.
    workspaces = [f"w{i}" for i in range(8)]
    settings = IdentitySettings(
        database_url=postgres_url, database_schema=pg_schema, workspaces=workspaces
    )
    async with replica(settings) as first, replica(settings) as second:
        defaults = await first.GetIdentityRules(
            pb.GetIdentityRulesRequest(name="workspaces/w0/identityRules")
        )

        async def update(stub: Stub, workspace: str, threshold: float) -> object:
            rules = pb.IdentityRules()
            rules.CopyFrom(defaults)
            rules.name = f"workspaces/{workspace}/identityRules"
            rules.matching.merge_threshold = threshold
            request = pb.UpdateIdentityRulesRequest(identity_rules=rules)
            try:
                return await stub.UpdateIdentityRules(request)
            except grpc.aio.AioRpcError as err:
                return err

        results = await asyncio.gather(
            *[
                update(stub, workspace, threshold)
                for workspace in workspaces
                for stub, threshold in ((first, 0.95), (second, 0.97))
            ]
        )
        for result in results:
            if isinstance(result, grpc.aio.AioRpcError):  # a clean, retryable refusal
                await fails(_raise(result), grpc.StatusCode.ABORTED)
        for workspace in workspaces:
            stored = await second.GetIdentityRules(
                pb.GetIdentityRulesRequest(name=f"workspaces/{workspace}/identityRules")
            )
            assert stored.HasField("update_time")
            assert stored.matching.merge_threshold in (pytest.approx(0.95), pytest.approx(0.97))


async def _raise(error: grpc.aio.AioRpcError) -> None:
    raise error
