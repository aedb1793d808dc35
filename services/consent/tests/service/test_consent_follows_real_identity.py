"""QA's repro end to end with a real identity server (in process): ann GRANTED marketing
email, the anonymous visitor DENIED it later; an identify naming both makes identity
merge them. Consent answers denied for both (the opt-out is not lost), until identity
unmerges them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from rapport.consent.settings import ConsentSettings
from rapport.grpctesting import serve_in_process
from rapport.identity.bootstrap import build as build_identity
from rapport.identity.settings import IdentitySettings
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.identity.v1 import identity_service_pb2_grpc
from rapport.type.v1 import identifier_pb2

from .._consent_support import FakeClock, record
from .._identity_support import DENIED, GRANTED, allowed, becomes, following

PARENT = "workspaces/default"


def _ids(**values: str) -> list[Any]:
    return [identifier_pb2.Identifier(type=t, value=v) for t, v in values.items()]


async def test_an_opt_out_survives_identitys_merge(
    tmp_path: Path, sqlite_settings: ConsentSettings, clock: FakeClock
) -> None:
    settings = IdentitySettings(data_dir=tmp_path / "identity", workspaces=["default"])
    async with serve_in_process(build_identity, settings) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            identity = identity_service_pb2_grpc.IdentityServiceStub(channel)

            async def resolve(**values: str) -> Any:
                request = ipb.ResolveRequest(parent=PARENT, identifiers=_ids(**values))
                return await identity.Resolve(request)

            ann = (await resolve(user_id="ann")).customer.name
            anon = (await resolve(anonymous_id="anon-1")).customer.name
            async with following(sqlite_settings, running.address, clock) as stub:
                await record(stub, ann, GRANTED)
                clock.advance(minutes=1)
                await record(stub, anon, DENIED)
                assert await allowed(stub, ann)

                merged = await resolve(user_id="ann", anonymous_id="anon-1")
                survivor = merged.customer.name
                assert {survivor, *merged.merged_customers} == {ann, anon}
                await becomes(stub, ann, False)
                assert not await allowed(stub, anon)

                await identity.UnmergeCustomer(ipb.UnmergeCustomerRequest(name=survivor))
                await becomes(stub, ann, True)
                assert not await allowed(stub, anon)
