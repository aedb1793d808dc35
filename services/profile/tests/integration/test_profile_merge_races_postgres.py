"""Profile on PostgreSQL with a merge committed between a first read and the locks: the
retention sweep's counters that follow a deletion are the survivor's, which holds the
events by then; EraseProfile erases, and RemoveTraits changes, the survivor that holds
the customer's data; ExportProfile answers from one moment of a merge."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from rapport.grpctesting import HeldAfterRead, eventually, expect_error
from rapport.profile.adapters.hygiene_repository import HygieneRepository
from rapport.profile.adapters.repository import ProfileRepository
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import merge_into
from ..service.test_profile_hygiene import POLICY, days_ago, ingest


async def test_a_merge_while_the_sweep_reads_leaves_the_survivor_counted_right(
    pg_profile_server: Any,
    event_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Held after its read, before its customers' locks.
    hold = HeldAfterRead(monkeypatch, HygieneRepository, "expired_events", armed=False)
    async with pg_profile_server(hygiene_sweep_interval=0.2) as (stub, _):
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


async def test_an_erasure_with_a_merge_after_its_first_read_erases_the_survivor(
    pg_profile_server: Any,
    event_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # EraseProfile held after it read which customer survives, before locking it.
    hold = HeldAfterRead(monkeypatch, ProfileRepository, "survivor_of", armed=False)
    async with pg_profile_server() as (stub, _):
        [kai] = await ingest(stub, event_factory("k", user_id="kai"))
        [anon] = await ingest(stub, event_factory("a", anonymous_id="anon-k"))
        hold.armed = True
        erasing = asyncio.ensure_future(
            stub.EraseProfile(pb.EraseProfileRequest(name=f"{anon.customer}/profile"))
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        assert (
            await merge_into(stub, event_factory, "kai", "anon-k") == kai.customer != anon.customer
        )
        hold.release.set()
        await erasing
        # On the old code the erasure deleted nothing (anon's events had moved) and kai
        # kept them: an erasure acknowledged, the data still held.
        for customer in (kai.customer, anon.customer):
            await expect_error(
                stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile")),
                grpc.StatusCode.NOT_FOUND,
            )
        page = await stub.ListEvents(pb.ListEventsRequest(parent=kai.customer))
        assert list(page.events) == []


async def test_remove_traits_with_a_merge_after_its_first_read_changes_the_survivor(
    pg_profile_server: Any,
    event_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold = HeldAfterRead(monkeypatch, ProfileRepository, "survivor_of", armed=False)
    async with pg_profile_server() as (stub, _):
        [kai] = await ingest(stub, event_factory("k", user_id="kai"))
        [anon] = await ingest(
            stub,
            event_factory(
                "a", type=pb.EVENT_TYPE_IDENTIFY, anonymous_id="anon-k", traits={"color": "red"}
            ),
        )
        hold.armed = True
        removing = asyncio.ensure_future(
            stub.RemoveTraits(
                pb.RemoveTraitsRequest(name=f"{anon.customer}/profile", keys=["color"])
            )
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        assert (
            await merge_into(stub, event_factory, "kai", "anon-k") == kai.customer != anon.customer
        )
        hold.release.set()
        # On the old code: OK, the trait still there (removed from the customer merged away).
        view = await removing
        assert view.customer == kai.customer and "color" not in view.traits


async def test_an_export_with_a_merge_after_its_first_read_exports_one_moment(
    pg_profile_server: Any,
    event_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ExportProfile held after it read which customer survives, before the sections.
    hold = HeldAfterRead(monkeypatch, ProfileRepository, "survivor_of", armed=False)
    async with pg_profile_server() as (stub, _):
        [kai] = await ingest(stub, event_factory("k", user_id="kai"))
        [anon] = await ingest(
            stub,
            event_factory(
                "a", type=pb.EVENT_TYPE_IDENTIFY, anonymous_id="anon-x", traits={"color": "red"}
            ),
        )
        hold.armed = True
        exporting = asyncio.ensure_future(
            stub.ExportProfile(pb.ExportProfileRequest(name=f"{anon.customer}/profile"))
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        assert (
            await merge_into(stub, event_factory, "kai", "anon-x") == kai.customer != anon.customer
        )
        hold.release.set()
        # On the old code: NOT_FOUND, anon's data read after it had moved to kai.
        data = json.loads((await exporting).data_json)
        assert data["customer"] == anon.customer
        assert [event["message_id"] for event in data["events"]] == ["a"]
        assert data["traits"]["color"]["value"] == "red"
        assert data["merged_customers"] == []
