"""Fakes shared by delivery's tests: profile and consent gRPC servers, an SMTP sink."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiosmtpd.controller import Controller
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.settings import DeliverySettings
from rapport.grpctesting import serve_fakes
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.type.v1 import channel_pb2
from rapport.wellknowntypes import python_to_value

from ._delivery_support import free_port
from ._stand_in import StandIn


def _trait_value(value: Any) -> struct_pb2.Value:
    # A Value as is: lets a test serve what JSON cannot say (NaN, very deep nesting).
    if isinstance(value, struct_pb2.Value):
        return value
    return python_to_value(value)


class FakeProfileService(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self) -> None:
        self.traits: dict[str, dict[str, Any]] = {}
        self.unavailable = False
        # With `unavailable`: the ErrorInfo reason of the google.rpc.Status it answers.
        self.unavailable_reason: str | None = None
        # When set, GetProfile and BatchGetProfiles wait for it: lets a test act in the
        # middle of a dispatch.
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        # An older profile, without BatchGetProfiles (answers UNIMPLEMENTED).
        self.batch_unimplemented = False
        # What was asked, in order: GetProfile names, BatchGetProfiles requests.
        self.gets: list[str] = []
        self.batches: list[profile_service_pb2.BatchGetProfilesRequest] = []

    async def GetProfile(
        self, request: profile_service_pb2.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> profile_service_pb2.Profile:
        self.gets.append(request.name)
        await self._answer_or_abort(context)
        if request.name.removesuffix("/profile") not in self.traits:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return self._profile(request.name)

    async def BatchGetProfiles(
        self,
        request: profile_service_pb2.BatchGetProfilesRequest,
        context: grpc.aio.ServicerContext,
    ) -> profile_service_pb2.BatchGetProfilesResponse:
        if self.batch_unimplemented:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
        self.batches.append(request)
        await self._answer_or_abort(context)
        for name in request.names:
            # All or nothing, as profile: NOT_FOUND for the first name without a profile.
            if name.removesuffix("/profile") not in self.traits:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return profile_service_pb2.BatchGetProfilesResponse(
            profiles=[self._profile(name) for name in request.names]
        )

    async def _answer_or_abort(self, context: grpc.aio.ServicerContext) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.unavailable and self.unavailable_reason is not None:
            info = error_details_pb2.ErrorInfo(
                reason=self.unavailable_reason, domain="profile.rapport.dev"
            )
            status = status_pb2.Status(code=grpc.StatusCode.UNAVAILABLE.value[0], message="down")
            status.details.add().Pack(info)
            await context.abort_with_status(rpc_status.to_status(status))
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")

    def _profile(self, name: str) -> profile_service_pb2.Profile:
        customer = name.removesuffix("/profile")
        return profile_service_pb2.Profile(
            name=name,
            customer=customer,
            traits={
                key: profile_service_pb2.Trait(value=_trait_value(v))
                for key, v in self.traits[customer].items()
            },
        )


class FakeConsentService(consent_service_pb2_grpc.ConsentServiceServicer):
    def __init__(self) -> None:
        self.allowed: dict[tuple[str, str, int], bool] = {}
        self.checks: list[consent_service_pb2.CheckConsentRequest] = []
        self.batches: list[consent_service_pb2.BatchCheckConsentRequest] = []
        self.unavailable = False
        # What WatchConsentRecords streams (cursor = position + 1), appended by record().
        self.ledger: list[consent_service_pb2.ConsentRecord] = []
        self._appended = asyncio.Event()

    def record(
        self,
        customer: str,
        purpose: str = "marketing",
        allowed: bool = True,
        channel: int = channel_pb2.CHANNEL_EMAIL,
    ) -> None:
        """A decision recorded: in force for checks, and appended to the watched ledger."""
        self.grant(customer, purpose, allowed, channel)
        state = consent_service_pb2.CONSENT_STATE_GRANTED
        if not allowed:
            state = consent_service_pb2.CONSENT_STATE_DENIED
        self.ledger.append(
            consent_service_pb2.ConsentRecord(
                name=f"{customer}/consentRecords/r{len(self.ledger) + 1}",
                customer=customer,
                purpose=purpose,
                channel=channel,  # type: ignore[arg-type]
                state=state,
                source="test",
            )
        )
        self._appended.set()
        self._appended = asyncio.Event()

    async def WatchConsentRecords(
        self,
        request: consent_service_pb2.WatchConsentRecordsRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[consent_service_pb2.WatchConsentRecordsResponse]:
        after = int(request.start_cursor or 0)
        while True:
            appended = self._appended
            workspace = request.parent + "/"
            while after < len(self.ledger):
                entry = self.ledger[after]
                after += 1
                if entry.customer.startswith(workspace):
                    yield consent_service_pb2.WatchConsentRecordsResponse(
                        consent_record=entry, cursor=str(after)
                    )
            await appended.wait()

    def grant(
        self,
        customer: str,
        purpose: str = "marketing",
        allowed: bool = True,
        channel: int = channel_pb2.CHANNEL_EMAIL,
    ) -> None:
        self.allowed[(customer, purpose, channel)] = allowed

    async def CheckConsent(
        self, request: consent_service_pb2.CheckConsentRequest, context: grpc.aio.ServicerContext
    ) -> consent_service_pb2.CheckConsentResponse:
        self.checks.append(request)
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        return self._answer(request)

    async def BatchCheckConsent(
        self,
        request: consent_service_pb2.BatchCheckConsentRequest,
        context: grpc.aio.ServicerContext,
    ) -> consent_service_pb2.BatchCheckConsentResponse:
        self.batches.append(request)
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down for the test")
        return consent_service_pb2.BatchCheckConsentResponse(
            responses=[self._answer(check) for check in request.requests]
        )

    def _answer(
        self, request: consent_service_pb2.CheckConsentRequest
    ) -> consent_service_pb2.CheckConsentResponse:
        # As consent answers: nothing recorded is NO_RECORD_DEFAULT_DENY without a record.
        allowed = self.allowed.get((request.customer, request.purpose, request.channel))
        if allowed is None:
            return consent_service_pb2.CheckConsentResponse(
                allowed=False,
                state=consent_service_pb2.CONSENT_STATE_DENIED,
                reason="NO_RECORD_DEFAULT_DENY",
            )
        state = consent_service_pb2.CONSENT_STATE_DENIED
        if allowed:
            state = consent_service_pb2.CONSENT_STATE_GRANTED
        return consent_service_pb2.CheckConsentResponse(
            allowed=allowed,
            state=state,
            record=consent_service_pb2.ConsentRecord(
                customer=request.customer,
                purpose=request.purpose,
                channel=request.channel,
                state=state,
                source="test",
            ),
            reason="GRANTED" if allowed else "DENIED",
        )


class Upstreams:
    """The fake profile and consent services, served on one ephemeral port."""

    def __init__(self, address: str, profile: FakeProfileService, consent: FakeConsentService):
        self.address = address
        self.profile = profile
        self.consent = consent


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    profile, consent = FakeProfileService(), FakeConsentService()
    async with serve_fakes(
        lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profile, s),
        lambda s: consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(consent, s),
    ) as address:
        yield Upstreams(address, profile, consent)


class SmtpSink:
    """A real SMTP server (aiosmtpd) keeping what it receives; `reply` forces an answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.reply: str | None = None
        # Seconds to sit on a mail before answering (past the client's timeout: ambiguous).
        self.delay = 0.0
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply is not None:
            return self.reply
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_sink(smtp_port: int) -> Iterator[SmtpSink]:
    """An SMTP server on `smtp_port`, not started yet (the test starts it)."""
    sink = SmtpSink(smtp_port)
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp(smtp_sink: SmtpSink) -> SmtpSink:
    smtp_sink.start()
    return smtp_sink


@pytest.fixture
def make_settings(
    tmp_path: Path, upstreams: Upstreams, smtp_port: int
) -> Callable[..., DeliverySettings]:
    def make(**overrides: Any) -> DeliverySettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "profile_address": upstreams.address,
            "consent_address": upstreams.address,
            "smtp_port": smtp_port,
            "smtp_timeout_seconds": 2.0,
            "retry_base_seconds": 0.05,
            "dispatch_poll_seconds": 0.05,
            "default_deadline_seconds": 5.0,
            "log_format": "text",
        }
        values.update(overrides)
        return DeliverySettings(**values)

    return make


@pytest.fixture
async def stand_ins() -> AsyncIterator[Callable[..., Any]]:
    """Starts stand-in HTTP providers on ephemeral ports: `await stand_ins(**fields)`;
    all are stopped at the end of the test."""
    started: list[StandIn] = []

    async def make(**fields: Any) -> StandIn:
        stand_in = await StandIn(**fields).start()
        started.append(stand_in)
        return stand_in

    try:
        yield make
    finally:
        for stand_in in started:
            await stand_in.stop()
