"""SMTP sessions are reused across mails (one connection carries many), and a kept
session the relay dropped is replaced without losing or doubling a mail."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.controller import Controller
from rapport.delivery.adapters.email_provider import SmtpEmailProvider
from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.domain.model import Channel

from .._delivery_support import free_port


class PeerSink:
    """Counts mails and the connections (peers) they came on."""

    def __init__(self) -> None:
        self.peers: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.peers.append(session.peer)
        return "250 OK"


def mail(i: int) -> OutgoingMessage:
    return OutgoingMessage(
        to=f"user{i}@example.com", subject=f"Hi {i}", text_body="Body", channel=Channel.EMAIL
    )


def provider(port: int) -> SmtpEmailProvider:
    return SmtpEmailProvider(
        host="127.0.0.1",
        port=port,
        email_from="Rapport <no-reply@rapport.local>",
        timeout_seconds=2.0,
        start_tls=False,
        max_idle_sessions=2,
    )


async def test_one_session_carries_many_mails() -> None:
    sink, port = PeerSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = provider(port)
    try:
        for i in range(5):
            await smtp.send(mail(i))
        # Four at once: sessions open as needed, and at most two are kept afterwards.
        await asyncio.gather(*(smtp.send(mail(i)) for i in range(5, 9)))
        for i in range(9, 12):
            await smtp.send(mail(i))
    finally:
        await smtp.close()
        controller.stop()
    assert len(sink.peers) == 12
    assert len(set(sink.peers[:5])) == 1  # sequential mails: one connection
    assert len(set(sink.peers)) <= 5


async def test_a_session_the_relay_dropped_is_replaced() -> None:
    sink, port = PeerSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = provider(port)
    try:
        await smtp.send(mail(1))
        controller.stop()  # the relay restarts: the kept session is dead
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        await smtp.send(mail(2))
    finally:
        await smtp.close()
        controller.stop()
    assert len(sink.peers) == 2  # each mail once
    assert sink.peers[0] != sink.peers[1]
