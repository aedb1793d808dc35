"""Fake profile, consent and delivery gRPC servers, and helpers shared by the tests."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import json_format, struct_pb2
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.decisioning.adapters import tables
from rapport.decisioning.bootstrap import build
from rapport.decisioning.settings import DecisioningSettings
from rapport.decisioning.v1 import decisioning_service_pb2_grpc
from rapport.delivery.v1 import delivery_service_pb2, delivery_service_pb2_grpc
from rapport.grpctesting import serve_fakes, serve_in_process
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2

from ._profile_listing_fake import ProfileListingFake

# Channels consent and delivery refuse (rapport.type.v1.Channel).
_UNSENDABLE = frozenset({channel_pb2.CHANNEL_UNSPECIFIED, channel_pb2.CHANNEL_INBOUND})


class FakeProfile(ProfileListingFake, profile_service_pb2_grpc.ProfileServiceServicer):
    """Traits by customer and a scripted signal log that can grow while watched."""

    def __init__(self) -> None:
        # Plain values, or struct_pb2.Value for values JSON cannot hold (NaN).
        self.traits: dict[str, dict[str, Any]] = {}
        self.signals: list[profile_service_pb2.Signal] = []
        self.watch_requests: list[profile_service_pb2.WatchSignalsRequest] = []
        self.get_profile_calls = 0
        self.batch_get_requests: list[profile_service_pb2.BatchGetProfilesRequest] = []
        # False: BatchGetProfiles answers UNIMPLEMENTED (a profile older than it).
        self.batch_get = True
        # GetProfile fails with these codes first, one per call.
        self.fail_get_with: list[grpc.StatusCode] = []
        # Abort the stream with this code once, after sending this many signals.
        self.break_stream: tuple[int, grpc.StatusCode] | None = None
        # skipped_signal_count of the response carrying the signal with this cursor.
        self.skipped_before: dict[str, int] = {}
        # Segment name -> member customer names (ListSegmentMembers).
        self.segment_members: dict[str, list[str]] = {}
        # Segments GetSegment finds (besides those of segment_members).
        self.segments: set[str] = set()
        # GetSegment fails with these codes first, one per call.
        self.fail_get_segment_with: list[grpc.StatusCode] = []
        self.get_segment_requests: list[str] = []
        self.list_profiles_requests: list[profile_service_pb2.ListProfilesRequest] = []
        # ListProfiles fails UNAVAILABLE for these page tokens (while they are here).
        self.unavailable_tokens: set[str] = set()
        self._changed = asyncio.Condition()

    async def add_signal(self, signal: profile_service_pb2.Signal) -> None:
        async with self._changed:
            self.signals.append(signal)
            self._changed.notify_all()

    async def GetProfile(
        self, request: profile_service_pb2.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> profile_service_pb2.Profile:
        self.get_profile_calls += 1
        if self.fail_get_with:
            await context.abort(self.fail_get_with.pop(0), "profile failure scripted by the test")
        customer = request.name.removesuffix("/profile")
        if customer not in self.traits:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return self._profile(request.name)

    async def BatchGetProfiles(
        self,
        request: profile_service_pb2.BatchGetProfilesRequest,
        context: grpc.aio.ServicerContext,
    ) -> profile_service_pb2.BatchGetProfilesResponse:
        self.batch_get_requests.append(request)
        if not self.batch_get:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "BatchGetProfiles")
        if self.fail_get_with:
            await context.abort(self.fail_get_with.pop(0), "profile failure scripted by the test")
        for name in request.names:  # all or nothing
            if name.removesuffix("/profile") not in self.traits:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return profile_service_pb2.BatchGetProfilesResponse(
            profiles=[self._profile(name) for name in request.names]
        )

    def _profile(self, name: str) -> profile_service_pb2.Profile:
        customer = name.removesuffix("/profile")
        profile = profile_service_pb2.Profile(name=name, customer=customer)
        for key, value in self.traits[customer].items():
            if not isinstance(value, struct_pb2.Value):
                value = json_format.ParseDict(value, struct_pb2.Value())
            profile.traits[key].value.CopyFrom(value)
        return profile

    async def GetSegment(
        self, request: profile_service_pb2.GetSegmentRequest, context: grpc.aio.ServicerContext
    ) -> profile_service_pb2.Segment:
        self.get_segment_requests.append(request.name)
        if self.fail_get_segment_with:
            code = self.fail_get_segment_with.pop(0)
            await context.abort(code, "profile failure scripted by the test")
        if request.name not in self.segments and request.name not in self.segment_members:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return profile_service_pb2.Segment(name=request.name, rule="true")

    async def ListSegmentMembers(
        self,
        request: profile_service_pb2.ListSegmentMembersRequest,
        context: grpc.aio.ServicerContext,
    ) -> profile_service_pb2.ListSegmentMembersResponse:
        if request.segment not in self.segment_members:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.segment} not found")
        members = sorted(self.segment_members[request.segment])
        start = int(request.page_token or 0)
        size = request.page_size or 50
        page = members[start : start + size]
        token = str(start + size) if start + size < len(members) else ""
        return profile_service_pb2.ListSegmentMembersResponse(
            members=[profile_service_pb2.SegmentMember(customer=c) for c in page],
            next_page_token=token,
        )

    async def WatchSignals(
        self,
        request: profile_service_pb2.WatchSignalsRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[profile_service_pb2.WatchSignalsResponse]:
        self.watch_requests.append(request)
        cursors = [s.cursor for s in self.signals]
        position = cursors.index(request.start_cursor) + 1 if request.start_cursor else 0
        sent = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda at=position: at < len(self.signals))
                batch = self.signals[position:]
            for signal in batch:
                if self.break_stream is not None and sent == self.break_stream[0]:
                    code = self.break_stream[1]
                    self.break_stream = None
                    await context.abort(code, "stream broken by the test")
                yield profile_service_pb2.WatchSignalsResponse(
                    signal=signal, skipped_signal_count=self.skipped_before.get(signal.cursor, 0)
                )
                position += 1
                sent += 1


class FakeConsent(consent_service_pb2_grpc.ConsentServiceServicer):
    """Denied unless granted; counts the calls."""

    def __init__(self) -> None:
        self.granted: set[tuple[str, str, int]] = set()
        self.batch_requests: list[consent_service_pb2.BatchCheckConsentRequest] = []
        self.check_requests: list[consent_service_pb2.CheckConsentRequest] = []
        self.unavailable = False

    def grant(self, customer: str, purpose: str, *channels: int) -> None:
        for channel in channels:
            self.granted.add((customer, purpose, channel))

    def _answer(
        self, request: consent_service_pb2.CheckConsentRequest
    ) -> consent_service_pb2.CheckConsentResponse:
        allowed = (request.customer, request.purpose, request.channel) in self.granted
        return consent_service_pb2.CheckConsentResponse(
            allowed=allowed,
            state=consent_service_pb2.CONSENT_STATE_GRANTED
            if allowed
            else consent_service_pb2.CONSENT_STATE_DENIED,
            reason="GRANTED" if allowed else "NO_RECORD_DEFAULT_DENY",
        )

    async def _refuse_unsendable(
        self,
        requests: list[consent_service_pb2.CheckConsentRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        # Like consent: permission is only recorded for channels that send.
        for request in requests:
            if request.channel in _UNSENDABLE:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "channel: cannot be sent")

    async def CheckConsent(
        self,
        request: consent_service_pb2.CheckConsentRequest,
        context: grpc.aio.ServicerContext,
    ) -> consent_service_pb2.CheckConsentResponse:
        self.check_requests.append(request)
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "consent is down")
        await self._refuse_unsendable([request], context)
        return self._answer(request)

    async def BatchCheckConsent(
        self,
        request: consent_service_pb2.BatchCheckConsentRequest,
        context: grpc.aio.ServicerContext,
    ) -> consent_service_pb2.BatchCheckConsentResponse:
        self.batch_requests.append(request)
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "consent is down")
        await self._refuse_unsendable(list(request.requests), context)
        return consent_service_pb2.BatchCheckConsentResponse(
            responses=[self._answer(r) for r in request.requests]
        )


class FakeDelivery(delivery_service_pb2_grpc.DeliveryServiceServicer):
    """Captures SendMessage; `fail_with` failures are returned first, one per call."""

    def __init__(self) -> None:
        self.requests: list[delivery_service_pb2.SendMessageRequest] = []
        self.accepted: list[delivery_service_pb2.SendMessageRequest] = []
        # A code, or a full grpc.Status (with details) to abort with.
        self.fail_with: list[grpc.StatusCode | grpc.Status] = []
        self.sent_event = asyncio.Event()
        self._by_key: dict[str, delivery_service_pb2.Message] = {}
        # best_channel: each customer's preferred channel, else the first candidate.
        self.preferred: dict[str, int] = {}
        # As the real delivery: a best-channel message is answered before its channel is
        # chosen (the answer's channel unspecified).
        self.choose_later = False

    @property
    def keys(self) -> list[str]:
        return [r.idempotency_key for r in self.accepted]

    async def SendMessage(
        self,
        request: delivery_service_pb2.SendMessageRequest,
        context: grpc.aio.ServicerContext,
    ) -> delivery_service_pb2.Message:
        self.requests.append(request)
        channel = request.channel
        if request.best_channel and channel == channel_pb2.CHANNEL_UNSPECIFIED:
            candidates = list(request.candidate_channels)
            preferred = self.preferred.get(request.customer)
            channel = preferred if preferred in candidates else candidates[0]
        if channel in _UNSENDABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "channel: cannot be sent")
        if self.fail_with:
            failure = self.fail_with.pop(0)
            if isinstance(failure, grpc.StatusCode):
                await context.abort(failure, "delivery failure scripted by the test")
            await context.abort_with_status(failure)
        self.accepted.append(request)
        self.sent_event.set()
        existing = self._by_key.get(request.idempotency_key)
        if existing is not None:
            return existing
        message = delivery_service_pb2.Message(
            name=f"{request.parent}/messages/m{len(self._by_key) + 1}",
            customer=request.customer,
            purpose=request.purpose,
            channel=channel_pb2.CHANNEL_UNSPECIFIED
            if request.best_channel and self.choose_later
            else channel,
            idempotency_key=request.idempotency_key,
            state=delivery_service_pb2.MESSAGE_STATE_QUEUED,
            source=request.source,
        )
        self._by_key[request.idempotency_key] = message
        return message


@dataclass
class FakeServices:
    address: str
    profile: FakeProfile
    consent: FakeConsent
    delivery: FakeDelivery
    _counter: list[int] = field(default_factory=lambda: [0])

    async def emit_event(
        self,
        customer: str,
        name: str,
        *,
        message_id: str | None = None,
        properties: dict[str, Any] | None = None,
        event_type: int = profile_service_pb2.EVENT_TYPE_TRACK,
    ) -> profile_service_pb2.Signal:
        """Append an event-seen signal; returns it (its cursor is sequential)."""
        self._counter[0] += 1
        number = self._counter[0]
        event = profile_service_pb2.Event(
            type=event_type,
            message_id=message_id or f"msg-{number}",
            event=name,
            customer=customer,
        )
        event.properties.update(properties or {})
        # As profile sends them: the corrected event time and the receive time.
        event.event_time.GetCurrentTime()
        event.receive_time.CopyFrom(event.event_time)
        signal = profile_service_pb2.Signal(
            cursor=f"c{number:06d}",
            kind=profile_service_pb2.SIGNAL_KIND_EVENT_SEEN,
            customer=customer,
            event_seen=profile_service_pb2.EventSeen(event=event),
        )
        await self.profile.add_signal(signal)
        return signal


@pytest.fixture
async def fake_services() -> AsyncIterator[FakeServices]:
    profile, consent, delivery = FakeProfile(), FakeConsent(), FakeDelivery()
    async with serve_fakes(
        lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profile, s),
        lambda s: consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(consent, s),
        lambda s: delivery_service_pb2_grpc.add_DeliveryServiceServicer_to_server(delivery, s),
    ) as address:
        yield FakeServices(address, profile, consent, delivery)


@pytest.fixture
def make_settings(
    tmp_path: Path, fake_services: FakeServices
) -> Callable[..., DecisioningSettings]:
    """Settings pointing at the fakes, on a SQLite file in tmp_path; triggers off by default."""

    def make(**overrides: Any) -> DecisioningSettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "profile_address": fake_services.address,
            "consent_address": fake_services.address,
            "delivery_address": fake_services.address,
            "triggers_enabled": False,
            "trigger_backoff_initial_seconds": 0.02,
            "trigger_backoff_max_seconds": 0.1,
            "default_deadline_seconds": 5.0,
        }
        values.update(overrides)
        return DecisioningSettings(**values)

    return make


async def _stored_cursor(settings: DecisioningSettings) -> str:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            value = await conn.scalar(sa.select(tables.signal_cursors.c.cursor))
    finally:
        await engine.dispose()
    return value or ""


@pytest.fixture
def stored_cursor() -> Callable[[DecisioningSettings], Awaitable[str]]:
    """`await stored_cursor(settings)`: the trigger runner's stored cursor ('' if none)."""
    return _stored_cursor


@asynccontextmanager
async def _serve(
    settings: DecisioningSettings, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[decisioning_service_pb2_grpc.DecisioningServiceStub]:
    builder = build if clock is None else functools.partial(build, clock=clock)
    async with serve_in_process(builder, settings) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield decisioning_service_pb2_grpc.DecisioningServiceStub(channel)


@pytest.fixture
def serve() -> Callable[..., Any]:
    """`async with serve(settings[, clock=...]) as stub:` runs the real service in-process."""
    return _serve


@pytest.fixture
async def stub(
    serve: Callable[..., Any], make_settings: Callable[..., DecisioningSettings]
) -> AsyncIterator[decisioning_service_pb2_grpc.DecisioningServiceStub]:
    """The service on SQLite with the fakes behind it and triggers off."""
    async with serve(make_settings()) as client:
        yield client
