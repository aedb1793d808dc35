"""The retention sweep on PostgreSQL, with a merge committed between its read of the
expired events and its lock of their customers: the counters that follow the deletion
are the survivor's, which holds the events by then."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rapport.grpctesting import eventually
from rapport.profile.adapters.hygiene_repository import HygieneRepository
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import HeldAfterRead
from ..service.test_profile_hygiene import POLICY, days_ago, ingest


async def test_a_merge_while_the_sweep_reads_leaves_the_survivor_counted_right(
    profile_server: Any,
    event_factory: Any,
    postgres_url: str,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Held after its read, before its customers' locks.
    hold = HeldAfterRead(monkeypatch, HygieneRepository, "expired_events", armed=False)
    settings = {"database_url": postgres_url, "database_schema": pg_schema}
    async with profile_server(**settings, hygiene_sweep_interval=0.2) as (stub, _):
        [kai] = await ingest(stub, event_factory("k", user_id="kai", event="Page Viewed"))
        anonymous = await ingest(
            stub,
            *(
                event_factory(
                    f"old-{n}",
                    anonymous_id="anon-r",
                    event="Page Viewed",
                    original_time=days_ago(60 + n),
                )
                for n in range(2)
            ),
            event_factory("new", anonymous_id="anon-r", event="Page Viewed"),
        )
        hold.armed = True
        await stub.UpdateDataHygienePolicy(
            pb.UpdateDataHygienePolicyRequest(
                data_hygiene_policy=pb.DataHygienePolicy(
                    name=POLICY, event_retention_days={"Page Viewed": 30}
                )
            )
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        # Carrying both ids, it merges anon into kai (the older): five events.
        [both] = await ingest(
            stub, event_factory("both", user_id="kai", anonymous_id="anon-r", event="Page Viewed")
        )
        assert both.customer == kai.customer != anonymous[0].customer
        hold.release.set()

        async def swept() -> bool:
            page = await stub.ListEvents(pb.ListEventsRequest(parent=kai.customer))
            return sorted(e.message_id for e in page.events) == ["both", "k", "new"]

        await eventually(swept, timeout=10)
        view = await stub.GetProfile(pb.GetProfileRequest(name=f"{kai.customer}/profile"))
        assert view.event_count == 3
