"""SMTP sessions are reused across mails (one connection carries many), and a kept
session the relay dropped is replaced without losing or doubling a mail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from rapport.delivery.adapters.email_provider import SmtpEmailProvider
from rapport.delivery.adapters.providers import (
    OutgoingMessage,
    ProviderRejectedError,
    ProviderUnavailable,
)
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


class Gatekeeper(PeerSink):
    """Records each envelope; refuses recipients by their local part (`refused...`:
    550, `later...`: 451) and, while `refuse_sender` is set, every sender (550)."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_sender = False

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_sender:
            return "550 sender refused"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("refused"):
            return "550 no such user"
        if address.startswith("later"):
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return await super().handle_DATA(server, session, envelope)


def to(address: str) -> OutgoingMessage:
    return OutgoingMessage(to=address, subject="Hi", text_body="Body", channel=Channel.EMAIL)


async def test_a_kept_session_writes_the_envelope_and_reads_refusals_as_before() -> None:
    # After the first mail the session is kept and MAIL/RCPT are written directly (not
    # through aiosmtplib's mail() and rcpt()): the same envelope, the same outcomes.
    sink, port = Gatekeeper(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = provider(port)
    try:
        # Each refusal comes on the session the mail before it kept (a refused
        # envelope closes its session: the next mail opens a new one).
        await smtp.send(to("first@example.com"))
        with pytest.raises(ProviderRejectedError, match="smtp rcpt 550"):
            await smtp.send(to("refused@example.com"))
        await smtp.send(to("o'brien+news@mail.example.com"))
        with pytest.raises(ProviderUnavailable, match="smtp rcpt 451"):
            await smtp.send(to("later@example.com"))
        await smtp.send(to("second@example.com"))
        sink.refuse_sender = True
        with pytest.raises(ProviderRejectedError, match="smtp mail 550"):
            await smtp.send(to("third@example.com"))
        sink.refuse_sender = False
        await smtp.send(to("third@example.com"))
        await smtp.send(to("fourth@example.com"))
    finally:
        await smtp.close()
        controller.stop()
    assert sink.envelopes == [
        ("no-reply@rapport.local", [address])
        for address in (
            "first@example.com",
            "o'brien+news@mail.example.com",
            "second@example.com",
            "third@example.com",
            "fourth@example.com",
        )
    ]
    # A session per refusal, and the last two mails on one.
    assert len(set(sink.peers)) == 4
    assert sink.peers[-1] == sink.peers[-2]
