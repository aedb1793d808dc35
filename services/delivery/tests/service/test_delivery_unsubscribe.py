"""One-click unsubscribe (RFC 8058) through the real server: every marketing email carries
a signed link and the List-Unsubscribe headers; a POST to it records the opt-out in
consent within the request, and the next send to that customer is suppressed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rapport.delivery.domain.model import Channel
from rapport.delivery.domain.unsubscribe import Unsubscribe, UnsubscribeTokens
from rapport.delivery.service_layer.dependencies import utc_now
from rapport.delivery.v1 import delivery_service_pb2 as pb

from .._delivery_support import CUSTOMER, send_request
from .._loop_support import (
    EMAIL,
    PUBLIC_BASE_URL,
    LoopUpstreams,
    loop_settings,
    loop_upstreams,
    serve,
    settled,
)
from ..conftest import SmtpSink

ADDRESS = "ada@example.com"


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {"email": ADDRESS, "first_name": "Ada"}
        fakes.consent.grant(CUSTOMER)
        fakes.consent.grant(CUSTOMER, purpose="transactional")
        yield fakes


def _link(mail: EmailMessage) -> str:
    header = mail["List-Unsubscribe"]
    assert header is not None and header.startswith("<") and header.endswith(">")
    return header[1:-1]


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_BASE_URL
    return parts.path


async def test_one_click_post_records_the_opt_out_and_the_next_send_is_suppressed(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        first = await running.stub.SendMessage(send_request("k-1"))
        assert (await settled(running.stub, first.name)).state == pb.MESSAGE_STATE_SENT
        [(_, mail)] = smtp.received
        link = _link(mail)
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The same link in the text and HTML bodies.
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert f"Unsubscribe: {link}" in text
        assert re.search(rf'<a href="{re.escape(link)}">Unsubscribe</a>', html)
        # Nothing but ids in the link: never the address.
        assert ADDRESS not in link

        # What a mail client does for one-click: POST the body RFC 8058 prescribes.
        answer = await running.http.post(
            _path(link),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200, answer.text
        assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", EMAIL, "unsubscribe")]
        [record] = upstreams.consent.records
        assert record.record.proof == first.name

        second = await running.stub.SendMessage(send_request("k-2"))
        done = await settled(running.stub, second.name)
    assert (done.state, done.failure_reason) == (pb.MESSAGE_STATE_SUPPRESSED, "CONSENT_DENIED")
    assert len(smtp.received) == 1


async def test_the_link_shows_a_confirmation_page_and_changes_nothing_until_posted(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        sent = await running.stub.SendMessage(send_request("k-1"))
        await settled(running.stub, sent.name)
        [(_, mail)] = smtp.received
        page = await running.http.get(_path(_link(mail)))
        assert page.status_code == 200
        assert '<form method="post">' in page.text and "marketing" in page.text
        assert page.headers["cache-control"] == "no-store"
    assert upstreams.consent.records == []


async def test_forged_expired_or_malformed_tokens_are_refused_and_record_nothing(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    settings = loop_settings(tmp_path, upstreams, smtp.port)
    async with serve(settings) as running:
        sent = await running.stub.SendMessage(send_request("k-1"))
        await settled(running.stub, sent.name)
        [(_, mail)] = smtp.received
        path = _path(_link(mail))
        payload, signature = path.rsplit("/", 1)[1].split(".")
        # Another customer's token, signed with another key: forged.
        forged_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
        # The first character: the last one of unpadded base64 also holds padding bits,
        # and changing only those leaves the same signature bytes.
        other_signature = ("x" if signature[0] != "x" else "y") + signature[1:]
        for bad, status in [
            (f"/v1/unsubscribe/{forged_payload}.{signature}", 403),
            (f"/v1/unsubscribe/{payload}.{other_signature}", 403),
            ("/v1/unsubscribe/not-a-token", 400),
            ("/v1/unsubscribe/%00%01.%02", 400),
        ]:
            for method in ("GET", "POST"):
                answer = await running.http.request(method, bad)
                assert answer.status_code == status, (bad, method, answer.text)
    assert upstreams.consent.records == []

    # Signed by another deployment (another secret): refused too.
    other = loop_settings(tmp_path / "other", upstreams, smtp.port, unsubscribe_secret="other")
    (tmp_path / "other").mkdir()
    async with serve(other) as running:
        answer = await running.http.post(path)
        assert answer.status_code == 403
    assert upstreams.consent.records == []


async def test_an_expired_link_is_refused(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    tokens = UnsubscribeTokens(b"a test secret", timedelta(days=180))
    old = tokens.issue(
        Unsubscribe(
            "default", "c0ffee", Channel.EMAIL, "marketing", "m1", utc_now() - timedelta(days=181)
        )
    )
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        assert (await running.http.post(f"/v1/unsubscribe/{old}")).status_code == 403
        fresh = tokens.issue(
            Unsubscribe("default", "c0ffee", Channel.EMAIL, "marketing", "m1", utc_now())
        )
        assert (await running.http.post(f"/v1/unsubscribe/{fresh}")).status_code == 200
    assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", EMAIL, "unsubscribe")]


async def test_transactional_mail_carries_no_unsubscribe_link(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        sent = await running.stub.SendMessage(send_request("k-1", purpose="transactional"))
        assert (await settled(running.stub, sent.name)).state == pb.MESSAGE_STATE_SENT
    [(_, mail)] = smtp.received
    assert mail["List-Unsubscribe"] is None and mail["List-Unsubscribe-Post"] is None
    assert "Unsubscribe" not in mail.get_body(("plain",)).get_content()
    assert "Unsubscribe" not in mail.get_body(("html",)).get_content()


async def test_when_consent_cannot_record_it_the_link_answers_503_and_works_later(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(loop_settings(tmp_path, upstreams, smtp.port)) as running:
        sent = await running.stub.SendMessage(send_request("k-1"))
        await settled(running.stub, sent.name)
        [(_, mail)] = smtp.received
        path = _path(_link(mail))
        upstreams.consent.record_unavailable = True
        answer = await running.http.post(path)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert upstreams.consent.records == []
        upstreams.consent.record_unavailable = False
        assert (await running.http.post(path)).status_code == 200
    assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", EMAIL, "unsubscribe")]
