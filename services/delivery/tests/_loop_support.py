"""Shared by the closed-loop tests: consent and profile fakes that also take RecordConsent
and IngestEvents, and the real server with its HTTP endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.bootstrap import build
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, serve_fakes, serve_in_process
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.type.v1 import channel_pb2

from .conftest import FakeConsentService, FakeProfileService

PUBLIC_BASE_URL = "https://delivery.example.com"
# Attempts go through fakes and real local servers: allow for a slow machine.
WITHIN = 10.0


class LedgerConsent(FakeConsentService):
    """Check answers as the fake does; RecordConsent appends to a ledger and applies it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[consent_service_pb2.RecordConsentRequest] = []
        self.record_unavailable = False

    async def RecordConsent(
        self,
        request: consent_service_pb2.RecordConsentRequest,
        context: grpc.aio.ServicerContext,
    ) -> consent_service_pb2.ConsentRecord:
        if self.record_unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        self.records.append(request)
        record = request.record
        self.allowed[(request.parent, record.purpose, record.channel)] = (
            record.state == consent_service_pb2.CONSENT_STATE_GRANTED
        )
        return consent_service_pb2.ConsentRecord(
            name=f"{request.parent}/consentRecords/{len(self.records)}",
            customer=request.parent,
            purpose=record.purpose,
            channel=record.channel,
            state=record.state,
            source=record.source,
            proof=record.proof,
        )

    def opt_outs(self) -> list[tuple[str, str, int, str]]:
        return [
            (r.parent, r.record.purpose, r.record.channel, r.record.source)
            for r in self.records
            if r.record.state == consent_service_pb2.CONSENT_STATE_DENIED
        ]


class EventProfile(FakeProfileService):
    """Profiles as the fake serves them; IngestEvents keeps what it accepts (once per id)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, profile_service_pb2.Event] = {}
        self.ingest_unavailable = False
        self.ingest_calls = 0
        # Events received, repeats included.
        self.received = 0

    async def IngestEvents(
        self,
        request: profile_service_pb2.IngestEventsRequest,
        context: grpc.aio.ServicerContext,
    ) -> profile_service_pb2.IngestEventsResponse:
        self.ingest_calls += 1
        if self.ingest_unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        results = []
        self.received += len(request.events)
        for event in request.events:
            status = (
                profile_service_pb2.INGEST_STATUS_DUPLICATE
                if event.message_id in self.events
                else profile_service_pb2.INGEST_STATUS_ACCEPTED
            )
            self.events.setdefault(event.message_id, event)
            results.append(
                profile_service_pb2.EventResult(message_id=event.message_id, status=status)
            )
        return profile_service_pb2.IngestEventsResponse(results=results)

    def named(self, name: str) -> list[profile_service_pb2.Event]:
        return [e for e in self.events.values() if e.event == name]


@dataclass
class LoopUpstreams:
    address: str
    profile: EventProfile
    consent: LedgerConsent


@asynccontextmanager
async def loop_upstreams() -> AsyncIterator[LoopUpstreams]:
    profile, consent = EventProfile(), LedgerConsent()
    async with serve_fakes(
        lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profile, s),
        lambda s: consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(consent, s),
    ) as address:
        yield LoopUpstreams(address, profile, consent)


def loop_settings(
    tmp_path: Path, upstreams: LoopUpstreams, smtp_port: int, **overrides: Any
) -> DeliverySettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "profile_address": upstreams.address,
        "consent_address": upstreams.address,
        "smtp_port": smtp_port,
        "smtp_timeout_seconds": 2.0,
        "retry_base_seconds": 0.05,
        "dispatch_poll_seconds": 0.05,
        "outbox_poll_seconds": 0.05,
        "default_deadline_seconds": 5.0,
        "log_format": "text",
        "public_base_url": PUBLIC_BASE_URL,
        "unsubscribe_secret": "a test secret",
        "consent_follow_enabled": False,
    }
    values.update(overrides)
    return DeliverySettings(**values)


@dataclass
class Running:
    stub: pb_grpc.DeliveryServiceStub
    http: httpx.AsyncClient


@asynccontextmanager
async def serve(settings: DeliverySettings) -> AsyncIterator[Running]:
    """The real server: its gRPC stub, and an HTTP client on its HTTP endpoint."""
    async with serve_in_process(build, settings) as server:
        assert server.http_address is not None
        async with (
            grpc.aio.insecure_channel(server.address) as channel,
            httpx.AsyncClient(base_url=f"http://{server.http_address}", timeout=5) as http,
        ):
            yield Running(pb_grpc.DeliveryServiceStub(channel), http)


async def settled(stub: pb_grpc.DeliveryServiceStub, name: str) -> pb.Message:
    """The message once it left QUEUED (and SENDING), with its status history."""

    async def done() -> pb.Message | None:
        message = await stub.GetMessage(pb.GetMessageRequest(name=name, view=pb.MESSAGE_VIEW_FULL))
        return (
            message
            if message.state not in (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENDING)
            else None
        )

    return await eventually(done, timeout=WITHIN)


async def wait_for(check: Any) -> Any:
    return await eventually(check, timeout=WITHIN)


EMAIL = channel_pb2.CHANNEL_EMAIL
SMS = channel_pb2.CHANNEL_SMS
