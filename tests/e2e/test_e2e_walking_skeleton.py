"""All five services as processes; the seed scenario's mail arrives at a real SMTP server.

Authentication is on in every service, as in production (and `make run`): the demo's
calls and the services' calls to each other, streams included, carry the token. Bad
input sent first (Structs nested 40 deep, a 4 MB event) is refused and the trigger
still fires afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from email import message_from_bytes, policy

import grpc
import pytest
from aiosmtpd.controller import Controller
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rapport.decisioning.v1 import decisioning_service_pb2 as decisioning_pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as decisioning_grpc
from rapport.delivery.v1 import delivery_service_pb2 as delivery_pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as delivery_grpc
from rapport.localsuite import SERVICES, Suite, SuiteLayout
from rapport.localsuite.demo import play
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc
from rapport.type.v1 import channel_pb2, message_content_pb2

pytestmark = pytest.mark.e2e

EXPECTED_SERVICES = {
    "identity": "rapport.identity.v1.IdentityService",
    "profile": "rapport.profile.v1.ProfileService",
    "consent": "rapport.consent.v1.ConsentService",
    "decisioning": "rapport.decisioning.v1.DecisioningService",
    "delivery": "rapport.delivery.v1.DeliveryService",
}


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mails.append((list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    (port,) = free_ports(1)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def list_services(address: str) -> set[str]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for reply in stub.ServerReflectionInfo(iter([request])):
            return {s.name for s in reply.list_services_response.service}
    return set()


async def health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        return reply.status


def nested(depth: int) -> dict:
    # Filled in place with Struct.update: copying a message this deep into another
    # (a constructor argument) would already fail to parse on the client side.
    data: dict = {"leaf": 1}
    for _ in range(depth - 1):
        data = {"next": data}
    return data


async def send_bad_input_first(layout: SuiteLayout, token: str) -> None:
    """Each of these must be refused as the client's mistake, and poison nothing."""
    metadata = (("authorization", f"Bearer {token}"),)
    workspace, customer = "workspaces/default", "workspaces/default/customers/someone"
    too_deep = nested(40)
    huge = {"blob": "x" * 4_000_000}
    decide = decisioning_pb.DecideRequest(parent=workspace, customer=customer)
    decide.context.update(too_deep)
    send = delivery_pb.SendMessageRequest(
        parent=workspace,
        idempotency_key="poison",
        customer=customer,
        purpose="marketing",
        channel=channel_pb2.CHANNEL_EMAIL,
        content=message_content_pb2.MessageContent(subject="s", text_body="b"),
    )
    send.data.update(too_deep)

    def ingest(message_id: str, properties: dict) -> profile_pb.IngestEventsRequest:
        request = profile_pb.IngestEventsRequest(parent=workspace)
        event = request.events.add(  # built in place: see nested()
            type=profile_pb.EVENT_TYPE_TRACK,
            message_id=message_id,
            user_id="poison",
            event="Policy Renewal Due",
        )
        event.properties.update(properties)
        return request

    async with (
        grpc.aio.insecure_channel(layout.address("profile")) as profile_channel,
        grpc.aio.insecure_channel(layout.address("decisioning")) as decisioning_channel,
        grpc.aio.insecure_channel(layout.address("delivery")) as delivery_channel,
    ):
        profile = profile_grpc.ProfileServiceStub(profile_channel)
        calls = {
            "IngestEvents (40 deep)": profile.IngestEvents(
                ingest("d", too_deep), metadata=metadata
            ),
            "IngestEvents (4 MB)": profile.IngestEvents(ingest("h", huge), metadata=metadata),
            "Decide (40 deep)": decisioning_grpc.DecisioningServiceStub(decisioning_channel).Decide(
                decide, metadata=metadata
            ),
            "SendMessage (40 deep)": delivery_grpc.DeliveryServiceStub(
                delivery_channel
            ).SendMessage(send, metadata=metadata),
        }
        for what, call in calls.items():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, what

        # And nothing passes without the token, streams included.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await profile.GetProfile(
                profile_pb.GetProfileRequest(name=f"{customer}/profile"), timeout=5
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stream = profile.WatchSignals(profile_pb.WatchSignalsRequest(parent=workspace))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stream.read()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_demo_scenario_delivers_the_renewal_reminder(tmp_path, smtp_inbox):
    inbox, smtp_port = smtp_inbox
    token = secrets.token_urlsafe(16)
    layout = SuiteLayout(
        data_dir=tmp_path / "data",
        smtp_port=smtp_port,
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
        # Delivery's HTTP endpoint too: never a fixed port a concurrent run may hold.
        http_ports={"delivery": free_ports(1)[0]},
        auth_token=token,
    )
    suite = Suite(layout)
    suite.start()
    try:
        await suite.wait_until_serving(within_seconds=30)
        for service, full_name in EXPECTED_SERVICES.items():
            address = layout.address(service)
            assert await health(address) == health_pb2.HealthCheckResponse.SERVING
            assert full_name in await list_services(address), service

        await send_bad_input_first(layout, token)
        result = await play(
            {s: layout.address(s) for s in SERVICES}, token=token, say=lambda _: None
        )

        assert result.message.state == delivery_pb.MESSAGE_STATE_SENT
        for _ in range(50):
            if inbox.mails:
                break
            await asyncio.sleep(0.1)
        assert len(inbox.mails) == 1
        recipients, raw = inbox.mails[0]
        assert recipients == ["ada.lovelace@example.com"]
        mail = message_from_bytes(raw, policy=policy.default)
        assert mail["To"] == "ada.lovelace@example.com"
        # The renewal date is counted from today; the 30-day window fired for it.
        assert f"HOME-0042 renews on {result.renewal_date}" in mail["Subject"]
        for part in ("plain", "html"):
            body = mail.get_body(preferencelist=(part,)).get_content()
            assert "Hello Ada" in body
            assert result.renewal_date in body
            assert "Renew now to stay covered without a gap." in body
    finally:
        codes = await asyncio.to_thread(suite.stop)
    # SIGTERM drains: every service exits cleanly, none had to be killed.
    assert codes == {s: 0 for s in SERVICES}
