"""Identity following, export/erase, retention and inactivity against PostgreSQL: the
service tests' scenarios, on a fresh schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from ..service import test_profile_hygiene as hygiene
from ..service import test_profile_identity_follow as follow


def on_postgres(profile_server: Any, url: str, schema: str) -> Any:
    return lambda **settings: profile_server(database_url=url, database_schema=schema, **settings)


async def test_identity_changes_on_postgres(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    await follow.test_merge_unmerge_and_erase_made_in_identity_show_in_profile(
        tmp_path, database_url=postgres_url, database_schema=pg_schema
    )


async def test_export_and_erase_on_postgres(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    async with on_postgres(profile_server, postgres_url, pg_schema)() as (stub, _):
        await hygiene.test_export_holds_everything_and_erase_removes_it(stub, event_factory)


async def test_retention_on_postgres(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    await hygiene.test_retention_sweep_deletes_expired_events_by_name(
        on_postgres(profile_server, postgres_url, pg_schema), event_factory
    )


async def test_inactivity_on_postgres(
    profile_server: Any, event_factory: Any, postgres_url: str, pg_schema: str
) -> None:
    await hygiene.test_inactivity_rule_reports_then_deletes(
        on_postgres(profile_server, postgres_url, pg_schema), event_factory
    )


async def test_two_replicas_follow_identity_and_apply_each_change_once(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    settings = {"database_url": postgres_url, "database_schema": pg_schema}
    async with follow.identity_server(tmp_path) as (identity, address):
        async with (
            follow.profile_server(tmp_path / "a", address, **settings) as a,
            follow.profile_server(tmp_path / "b", address, **settings) as b,
        ):
            ingested = await a.IngestEvents(
                pb.IngestEventsRequest(
                    parent=follow.PARENT,
                    events=[
                        follow.make_event(
                            "r1", type=pb.EVENT_TYPE_IDENTIFY, user_id="rae", traits={"k": 1}
                        ),
                        follow.make_event("r2", anonymous_id="visitor-9"),
                    ],
                )
            )
            rae, visitor = (r.customer for r in ingested.results)
            merged = await identity.Resolve(
                ipb.ResolveRequest(
                    parent=follow.PARENT,
                    identifiers=[
                        identifier_pb2.Identifier(type="user_id", value="rae"),
                        identifier_pb2.Identifier(type="anonymous_id", value="visitor-9"),
                    ],
                )
            )
            survivor = merged.customer.name
            gone = visitor if survivor == rae else rae
            for stub in (a, b):
                await follow.shows(
                    stub, gone, lambda p, s=survivor: p is not None and p.customer == s
                )
                view = await follow.profile_of(stub, survivor)
                assert view.event_count == 2
            await identity.UnmergeCustomer(ipb.UnmergeCustomerRequest(name=survivor))
            for stub in (a, b):
                await follow.shows(stub, gone, lambda p, g=gone: p is not None and p.customer == g)
                assert (await follow.profile_of(stub, rae)).event_count == 1
                assert (await follow.profile_of(stub, visitor)).event_count == 1
