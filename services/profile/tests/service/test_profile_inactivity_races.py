"""The inactivity sweep erases a customer only if, in the erasing transaction, it is still
a customer of its own (not merged into another) that the rule matches: activity or a
merge that comes between the sweep's read and the erasure saves it (and never erases
the survivor of a merge instead)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rapport.grpctesting import HeldAfterRead, eventually
from rapport.profile.adapters.hygiene_repository import HygieneRepository
from rapport.profile.v1 import profile_service_pb2 as pb

from .test_profile_hygiene import POLICY, days_ago, ingest


@pytest.mark.parametrize("meanwhile", ["opens an email", "is merged into an active customer"])
async def test_what_comes_between_the_read_and_the_erasure_is_seen(
    meanwhile: str, profile_server: Any, event_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held after its read, before the erasures.
    hold = HeldAfterRead(monkeypatch, HygieneRepository, "inactive")
    async with profile_server(hygiene_sweep_interval=0.2) as (stub, _):
        [kai] = await ingest(
            stub, event_factory("k", user_id="kai", event="Email Opened", original_time=days_ago(3))
        )
        [cat, _] = await ingest(
            stub,
            event_factory(
                "c1", anonymous_id="anon-c", event="Page Viewed", original_time=days_ago(900)
            ),
            event_factory(
                "c2", anonymous_id="anon-c", event="Email Opened", original_time=days_ago(800)
            ),
        )
        rule = pb.InactivityRule(
            event_name="Email Opened", inactive_days=730, action=pb.INACTIVITY_ACTION_DELETE
        )
        await stub.UpdateDataHygienePolicy(
            pb.UpdateDataHygienePolicyRequest(
                data_hygiene_policy=pb.DataHygienePolicy(name=POLICY, inactivity=rule)
            )
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        if meanwhile == "opens an email":
            await ingest(stub, event_factory("c3", anonymous_id="anon-c", event="Email Opened"))
            saved = cat.customer
        else:
            # Carrying both ids, it merges cat into kai (the older customer).
            [both] = await ingest(
                stub, event_factory("kc", user_id="kai", anonymous_id="anon-c", event="Viewed")
            )
            assert both.customer == kai.customer
            saved = kai.customer
        hold.release.set()
        seen = hold.calls
        await eventually(lambda: hold.calls >= seen + 2, timeout=10)  # two more sweeps
        view = await stub.GetProfile(pb.GetProfileRequest(name=f"{saved}/profile"))
        assert view.event_count == 3 if meanwhile == "opens an email" else 4
