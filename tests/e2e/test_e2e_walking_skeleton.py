"""All five services as processes; the seed scenario's mail arrives at a real SMTP server."""

from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes, policy

import grpc
import pytest
from aiosmtpd.controller import Controller
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rapport.delivery.v1 import delivery_service_pb2 as delivery_pb
from rapport.localsuite import SERVICES, Suite, SuiteLayout
from rapport.localsuite.demo import play

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


async def test_demo_scenario_delivers_the_renewal_reminder(tmp_path, smtp_inbox):
    inbox, smtp_port = smtp_inbox
    layout = SuiteLayout(
        data_dir=tmp_path / "data",
        smtp_port=smtp_port,
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
    )
    suite = Suite(layout)
    suite.start()
    try:
        await suite.wait_until_serving(within_seconds=30)
        for service, full_name in EXPECTED_SERVICES.items():
            address = layout.address(service)
            assert await health(address) == health_pb2.HealthCheckResponse.SERVING
            assert full_name in await list_services(address), service

        result = await play({s: layout.address(s) for s in SERVICES}, say=lambda _: None)

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
        assert "renews in 21 days" in mail["Subject"]
        body = mail.get_body(preferencelist=("plain",)).get_content()
        assert "Hello Ada" in body
        assert "HOME-0042" in body
    finally:
        codes = await asyncio.to_thread(suite.stop)
    # SIGTERM drains: every service exits cleanly, none had to be killed.
    assert codes == {s: 0 for s in SERVICES}
