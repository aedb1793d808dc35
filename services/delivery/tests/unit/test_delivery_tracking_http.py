"""Tracking's HTTP endpoints when recording fails (the reader never sees it), and the
send-time rewrite leaving untracked mail as the very same object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.domain import tracking
from rapport.delivery.domain.model import Channel, Message, MessageContent, RetryPolicy
from rapport.delivery.entrypoints.http_app import PIXEL_GIF, build_http_app
from rapport.delivery.service_layer.closed_loop import ClosedLoop
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.tracking import with_tracking
from rapport.pagination import PageTokens

from .._delivery_support import InMemoryConsentClient, InMemoryProfileClient

SECRET = b"a test secret"


def _deps(email_tracking: dict[str, tracking.EmailTracking] | None = None) -> Dependencies:
    def broken_store(**_: Any) -> Any:
        raise RuntimeError("the database is down")

    return Dependencies(
        uow_factory=broken_store,  # type: ignore[arg-type]
        workspaces=frozenset({"default"}),
        profiles=InMemoryProfileClient(),
        consents=InMemoryConsentClient(),
        providers={},
        retry_policy=RetryPolicy(),
        page_tokens=PageTokens(None),
        loop=ClosedLoop(secret=SECRET, email_tracking=email_tracking or {}),
    )


async def test_the_pixel_and_the_link_answer_when_nothing_can_be_recorded() -> None:
    tokens = tracking.TrackingTokens(SECRET)
    app = build_http_app(_deps())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://d") as http:
        pixel = await http.get(tracking.OPEN_PATH + tokens.open_token("default", "m1"))
        click = await http.get(
            tracking.CLICK_PATH + tokens.click_token("default", "m1", "https://shop.example/")
        )
    assert (pixel.status_code, pixel.content) == (200, PIXEL_GIF)
    assert (click.status_code, click.headers["location"]) == (302, "https://shop.example/")


def _outgoing(
    channel: Channel = Channel.EMAIL, html: str | None = "<a href='https://x.example/'>"
) -> OutgoingMessage:
    return OutgoingMessage(
        to="ada@example.com",
        subject="s",
        text_body="https://x.example/",
        html_body=html,
        headers={},
        channel=channel,
        message_name="workspaces/default/messages/m1",
        idempotency_key="m1",
        workspace="default",
        customer="workspaces/default/customers/c",
        purpose="marketing",
        source="",
        data={},
        create_time=datetime(2030, 1, 1, tzinfo=UTC),
    )


def test_untracked_mail_is_the_very_same_object() -> None:
    message = Message.queue(
        id="m1",
        workspace="default",
        customer_id="c",
        purpose="marketing",
        channel=Channel.EMAIL,
        idempotency_key="k",
        content=MessageContent("s", "t"),
        data={},
        source="",
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    off = _deps()
    on = _deps({"default": tracking.EmailTracking()})
    for deps, outgoing in [
        (off, _outgoing()),
        (_deps({"other": tracking.EmailTracking()}), _outgoing()),
        (_deps({"*": tracking.EmailTracking(opens=False, clicks=False)}), _outgoing()),
        (on, _outgoing(html=None)),
        (on, _outgoing(Channel.SMS)),
    ]:
        assert with_tracking(outgoing, message, deps) is outgoing
    tracked = with_tracking(_outgoing(), message, on)
    assert tracking.CLICK_PATH in (tracked.html_body or "")
    assert tracked.text_body == "https://x.example/"
