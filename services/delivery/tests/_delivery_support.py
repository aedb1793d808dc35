"""Shared by delivery's tests: in-memory outbound ports, and requests to the real server."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import struct_pb2
from rapport.delivery.adapters.consent_client import ConsentClient
from rapport.delivery.adapters.profile_client import (
    CustomerProfile,
    ProfileClient,
    ProfileNotFound,
)
from rapport.delivery.adapters.providers import OutgoingMessage, Provider
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.bootstrap import build
from rapport.delivery.domain.consent import ConsentAnswer
from rapport.delivery.domain.model import Channel
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpcserver import ServiceParts
from rapport.grpctesting import serve_in_process, status_details
from rapport.type.v1 import channel_pb2, message_content_pb2

# The customers of the service tests (the fake upstreams know them by these names).
CUSTOMER = "workspaces/default/customers/c0ffee"
OTHER_CUSTOMER = "workspaces/default/customers/beef01"


class InMemoryConsentClient(ConsentClient):
    """Decisions by (customer, purpose, channel); NO_RECORD when none is set."""

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str, Channel], bool] = {}
        self.unavailable = False
        self.calls = 0

    def set(self, customer: str, purpose: str, channel: Channel, allowed: bool) -> None:
        self.decisions[(customer, purpose, channel)] = allowed

    def _answer(self, customer: str, purpose: str, channel: Channel) -> ConsentAnswer:
        allowed = self.decisions.get((customer, purpose, channel))
        if allowed is None:
            return ConsentAnswer.NO_RECORD
        return ConsentAnswer.GRANTED if allowed else ConsentAnswer.DENIED

    async def check(self, customer: str, purpose: str, channel: Channel) -> ConsentAnswer:
        self.calls += 1
        if self.unavailable:
            raise UpstreamUnavailable("consent", "UNAVAILABLE")
        return self._answer(customer, purpose, channel)

    async def check_channels(
        self, customer: str, purpose: str, channels: Sequence[Channel]
    ) -> dict[Channel, ConsentAnswer]:
        self.calls += 1
        if self.unavailable:
            raise UpstreamUnavailable("consent", "UNAVAILABLE")
        return {c: self._answer(customer, purpose, c) for c in channels}


class InMemoryProfileClient(ProfileClient):
    """Profiles by customer name."""

    def __init__(self, profiles: dict[str, dict[str, Any]] | None = None) -> None:
        self.profiles: dict[str, dict[str, Any]] = dict(profiles or {})
        self.unavailable = False
        self.calls = 0

    async def get_profile(self, customer: str) -> CustomerProfile:
        self.calls += 1
        if self.unavailable:
            raise UpstreamUnavailable("profile", "UNAVAILABLE")
        if customer not in self.profiles:
            raise ProfileNotFound(customer)
        return CustomerProfile(customer=customer, traits=dict(self.profiles[customer]))


class FakeEmailProvider(Provider):
    """Records what it is asked to send; `failures` scripts errors for the next calls."""

    name = "fake"

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.calls = 0
        self.failures: list[Exception] = []
        self._ids = itertools.count(1)

    async def send(self, email_to_send: OutgoingMessage) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(email_to_send)
        return f"<fake-{next(self._ids)}@rapport.test>"


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def free_port() -> int:
    """A port nothing listens on (just now): connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# --- odd values ------------------------------------------------------------------------------


def nested_lists(depth: int) -> struct_pb2.Value:
    """A Value of `depth` lists inside one another, with a number at the bottom."""
    value = struct_pb2.Value(number_value=1)
    for _ in range(depth):
        outer = struct_pb2.Value()
        outer.list_value.values.add().CopyFrom(value)
        value = outer
    return value


def nested_structs(depth: int) -> struct_pb2.Struct:
    """`depth` Structs inside one another under the key "a" (the outermost counting 1)."""
    outer = struct_pb2.Struct()
    current = outer
    for _ in range(depth - 1):
        current = current.fields["a"].struct_value
    current.SetInParent()  # the innermost is an empty Struct, not an unset Value
    return outer


# --- the real server -------------------------------------------------------------------------


def send_request(
    key: str = "k-1", customer: str = CUSTOMER, **overrides: Any
) -> pb.SendMessageRequest:
    data = struct_pb2.Struct()
    data.update({"offer": "10% off", "html": "<b>bold</b>"})
    request = pb.SendMessageRequest(
        parent="workspaces/default",
        idempotency_key=key,
        customer=customer,
        purpose="marketing",
        channel=channel_pb2.CHANNEL_EMAIL,
        content=message_content_pb2.MessageContent(
            subject="Hello {{ traits.first_name }}",
            text_body="Dear {{ traits.first_name }}, {{ data.offer }} {{ data.html }}",
            html_body="<p>{{ data.html }}</p>",
        ),
        data=data,
        source="workspaces/default/triggers/welcome",
    )
    for field, value in overrides.items():
        if field in ("content", "data"):
            getattr(request, field).CopyFrom(value)
        else:
            setattr(request, field, value)
    return request


@asynccontextmanager
async def delivery(
    settings: DeliverySettings, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[pb_grpc.DeliveryServiceStub]:
    """The real server in-process; `clock` replaces the time every part of it reads."""

    async def built(s: DeliverySettings) -> ServiceParts:
        return await build(s, clock=clock) if clock is not None else await build(s)

    async with serve_in_process(built, settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield pb_grpc.DeliveryServiceStub(channel)


def assert_refused(err: grpc.aio.AioRpcError, code: str, reason: str, field: str | None) -> None:
    """The call failed with `code`, ErrorInfo `reason` and, when given, one violation on `field`."""
    assert err.code() == grpc.StatusCode[code]
    info, bad_request = status_details(err)
    assert info is not None and info.reason == reason
    if field is not None:
        assert bad_request is not None
        assert [v.field for v in bad_request.field_violations] == [field]
