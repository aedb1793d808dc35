"""Decide with profile_cache_seconds: the profile is read once while profile's signals are
followed; a signal of the customer (or an erasure here) makes Decide read it again."""

from __future__ import annotations

import grpc
import pytest
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually, expect_error
from rapport.profile.v1 import profile_service_pb2
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"


@pytest.fixture
async def cached(serve, make_settings, fake_services):
    fake_services.profile.traits[ALICE] = {"plan": "gold"}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(make_settings(profile_cache_seconds=60)) as stub:
        await stub.CreateAction(
            pb.CreateActionRequest(
                parent=PARENT,
                action_id="gold-offer",
                action=pb.Action(
                    channels=[channel_pb2.CHANNEL_EMAIL],
                    purpose="marketing",
                    value=10.0,
                    content=message_content_pb2.MessageContent(subject="s", text_body="b"),
                    eligibility="profile.traits.plan == 'gold'",
                ),
            )
        )
        await without_contact_limits(stub)
        # Following: the stream was opened.
        await eventually(lambda: fake_services.profile.watch_requests)
        yield stub


async def decided(stub) -> list[str]:
    response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
    return [a.action.rsplit("/", 1)[1] for a in response.actions]


async def test_profile_read_again_after_a_signal_of_the_customer(cached, fake_services):
    profile = fake_services.profile
    assert await decided(cached) == ["gold-offer"]
    calls = profile.get_profile_calls
    assert await decided(cached) == ["gold-offer"]
    assert profile.get_profile_calls == calls  # kept

    profile.traits[ALICE] = {"plan": "basic"}
    await profile.add_signal(
        profile_service_pb2.Signal(
            cursor="1",
            customer=ALICE,
            kind=profile_service_pb2.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=profile_service_pb2.TraitChanged(key="plan"),
        )
    )

    async def sees_the_change() -> bool:
        return await decided(cached) == []

    await eventually(sees_the_change)


async def test_erasure_here_drops_the_kept_profile(cached, fake_services):
    profile = fake_services.profile
    assert await decided(cached) == ["gold-offer"]
    calls = profile.get_profile_calls
    await cached.EraseCustomerDecisions(
        pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
    )
    # Profile is asked again (the fake still knows Alice); the decision is refused all
    # the same, as the customer was erased here.
    info, _ = await expect_error(decided(cached), grpc.StatusCode.NOT_FOUND)
    assert info.metadata["resource"] == ALICE
    assert profile.get_profile_calls == calls + 1
