"""On SQLite the outbox relay does not hold the database's write lock while it sends:
a profile that hangs on IngestEvents does not stall SendMessage (the erasure race tests,
in test_delivery_erased_tombstones.py, hold the relay and erasures apart on both
backends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from rapport.consent.v1 import consent_service_pb2_grpc
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import serve_fakes
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

from .._delivery_support import CUSTOMER, send_request
from .._loop_support import (
    EventProfile,
    LedgerConsent,
    LoopUpstreams,
    loop_settings,
    serve,
    settled,
    wait_for,
)
from ..conftest import SmtpSink


class HangingProfile(EventProfile):
    """IngestEvents waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.ingesting = asyncio.Event()
        self.release = asyncio.Event()

    async def IngestEvents(
        self,
        request: profile_service_pb2.IngestEventsRequest,
        context: grpc.aio.ServicerContext,
    ) -> profile_service_pb2.IngestEventsResponse:
        self.ingesting.set()
        await self.release.wait()
        return await super().IngestEvents(request, context)


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    profile, consent = HangingProfile(), LedgerConsent()
    profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    consent.grant(CUSTOMER)
    async with serve_fakes(
        lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profile, s),
        lambda s: consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(consent, s),
    ) as address:
        try:
            yield LoopUpstreams(address, profile, consent)
        finally:
            profile.release.set()


async def test_a_hanging_profile_does_not_block_send_message_on_sqlite(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    profile = upstreams.profile
    assert isinstance(profile, HangingProfile)
    # Profile's calls may last 30 s: the send below must not wait for that.
    settings = loop_settings(tmp_path, upstreams, smtp.port, default_deadline_seconds=30.0)
    assert settings.database_url_or_default().startswith("sqlite")
    async with serve(settings) as running:
        first = await running.stub.SendMessage(send_request("k-1"))
        assert (await settled(running.stub, first.name)).state == pb.MESSAGE_STATE_SENT
        # Its "Email Sent" event is being relayed: profile holds the call.
        await asyncio.wait_for(profile.ingesting.wait(), 10)
        second = await running.stub.SendMessage(send_request("k-2"), timeout=3)
        assert second.state == pb.MESSAGE_STATE_QUEUED
        delivered = await running.stub.ReportProviderEvent(
            pb.ReportProviderEventRequest(
                parent="workspaces/default",
                message=first.name,
                type=pb.PROVIDER_EVENT_TYPE_DELIVERED,
            ),
            timeout=3,
        )
        assert delivered.outcome == pb.PROVIDER_EVENT_OUTCOME_APPLIED
        profile.release.set()
        await wait_for(lambda: len(profile.events) == 3)
    assert sorted(e.event for e in profile.events.values()) == [
        "Email Delivered",
        "Email Sent",
        "Email Sent",
    ]
