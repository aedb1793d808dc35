"""Open and click tracking through the real server: a tracked email goes out through the
SMTP sink with a pixel and rewritten links; fetching them from delivery's HTTP endpoint
records OPENED and CLICKED as a provider's events are (status history, profile events),
once each, and the click redirects to the original link. Forged tokens record nothing,
erased messages record nothing, and without tracking the body is left as it was."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError
from rapport.delivery.domain import html_links, tracking
from rapport.delivery.domain.unsubscribe import html_with_link
from rapport.delivery.entrypoints.http_app import PIXEL_GIF
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.type.v1 import message_content_pb2

from .._delivery_support import CUSTOMER, send_request
from .._loop_support import (
    PUBLIC_BASE_URL,
    LoopUpstreams,
    Running,
    loop_settings,
    loop_upstreams,
    serve,
    settled,
    wait_for,
)
from ..conftest import SmtpSink

ADDRESS = "ada@example.com"
SALE = "https://shop.example/sale?utm_source=mail&ref=ada"
HTML = (
    "<html><body><p>Hi {{ traits.first_name }}</p>"
    '<a href="https://shop.example/sale?utm_source=mail&amp;ref=ada">Sale</a>'
    '<a href="mailto:help@example.com">Help</a><a href="tel:+14155550123">Call</a>'
    '<a href="#top">Top</a>'
    '<a data-rapport-notrack href="https://shop.example/account">Account</a>'
    "</body></html>"
)
RENDERED = HTML.replace("{{ traits.first_name }}", "Ada")
TEXT = "Sale: https://shop.example/sale"


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {"email": ADDRESS, "first_name": "Ada", "user_id": "u1"}
        fakes.consent.grant(CUSTOMER)
        fakes.consent.grant(CUSTOMER, purpose="transactional")
        yield fakes


def _settings(tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, **overrides: Any) -> Any:
    values: dict[str, Any] = {"email_tracking": {"*": {}}} | overrides
    return loop_settings(tmp_path, upstreams, smtp.port, **values)


def _request(key: str, **overrides: Any) -> pb.SendMessageRequest:
    content = message_content_pb2.MessageContent(subject="Sale", text_body=TEXT, html_body=HTML)
    return send_request(key, content=content, **overrides)


async def _send(running: Running, smtp: SmtpSink, key: str = "k-1", **overrides: Any) -> Any:
    accepted = await running.stub.SendMessage(_request(key, **overrides))
    assert (await settled(running.stub, accepted.name)).state == pb.MESSAGE_STATE_SENT
    _, mail = smtp.received[-1]
    return accepted, mail


def _html(mail: EmailMessage) -> str:
    # As written before SMTP's CRLF line ends and the MIME part's final newline.
    content = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return content.replace("\r\n", "\n").removesuffix("\n")


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_BASE_URL
    return parts.path


def _pixel(mail: EmailMessage) -> str:
    [src] = re.findall(r'<img src="([^"]+)" width="1" height="1"', _html(mail))
    return _path(src)


def _click_links(mail: EmailMessage) -> list[str]:
    links = [link.url for link in html_links.find_links(_html(mail))]
    return [_path(url) for url in links if tracking.CLICK_PATH in url]


async def _history(running: Running, name: str) -> list[tuple[str, str, str]]:
    message = await running.stub.GetMessage(
        pb.GetMessageRequest(name=name, view=pb.MESSAGE_VIEW_FULL)
    )
    return [(c.status, c.reason, c.reporter) for c in message.status_history]


async def test_opens_and_clicks_are_recorded_once_like_a_provider_reports_them_and_counted(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        accepted, mail = await _send(running, smtp)
        html = _html(mail)
        # Only the http(s) link is wrapped; the others and the unsubscribe link are not.
        [click] = _click_links(mail)
        for kept in ("mailto:help@example.com", "tel:+14155550123", '"#top"'):
            assert kept in html
        assert 'href="https://shop.example/account"' in html
        unsubscribe_url = mail["List-Unsubscribe"][1:-1]
        assert f'<a href="{unsubscribe_url}">Unsubscribe</a>' in html
        assert "shop.example/sale" not in html
        # The text part is left as written.
        assert TEXT in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        pixel = _pixel(mail)
        for _ in range(2):
            answer = await running.http.get(pixel)
            assert answer.status_code == 200 and answer.content == PIXEL_GIF
            assert answer.headers["content-type"] == "image/gif"
            assert "no-store" in answer.headers["cache-control"]
        assert await _history(running, accepted.name) == [
            ("QUEUED", "", "delivery"),
            ("SENT", "", "delivery"),
            ("OPENED", "", "delivery"),
        ]

        # A link scanner's HEAD is answered and records nothing.
        head = await running.http.head(click)
        assert (head.status_code, head.headers["location"]) == (302, SALE)
        assert len(await _history(running, accepted.name)) == 3
        for _ in range(2):
            answer = await running.http.get(click)
            assert (answer.status_code, answer.headers["location"]) == (302, SALE)
        history = await _history(running, accepted.name)
        assert history[3:] == [("CLICKED", "https://shop.example/sale", "delivery")]
        message = await running.stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
        assert message.HasField("open_time") and message.HasField("click_time")
        # Every open and click is counted, repeats included (the HEAD is not).
        assert (message.open_count, message.click_count) == (2, 2)

        # The stored message is unchanged: the same key and content is the same message.
        again = await running.stub.SendMessage(_request("k-1"))
        assert again.name == accepted.name and len(smtp.received) == 1

        await wait_for(lambda: upstreams.profile.named("Email Clicked"))
        [opened] = upstreams.profile.named("Email Opened")
        [clicked] = upstreams.profile.named("Email Clicked")
    assert opened.properties["message"] == accepted.name
    assert clicked.properties["reason"] == "https://shop.example/sale"
    assert {(i.type, i.value) for i in clicked.identifiers} >= {("user_id", "u1")}


async def test_a_click_before_any_open_records_the_open_too(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        accepted, mail = await _send(running, smtp)
        [click] = _click_links(mail)
        assert (await running.http.get(click)).status_code == 302
        assert (await running.http.get(click)).status_code == 302
        clicked = await running.stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
        # The pixel, loaded later, adds an open to the count, not to the history.
        assert (await running.http.get(_pixel(mail))).status_code == 200
        history = await _history(running, accepted.name)
        opened = await running.stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
    assert history[2:] == [
        ("OPENED", "click", "delivery"),
        ("CLICKED", "https://shop.example/sale", "delivery"),
    ]
    # The first click implied one open; the second click none.
    assert (clicked.open_count, clicked.click_count) == (1, 2)
    assert (opened.open_count, opened.click_count) == (2, 2)


async def test_forged_and_malformed_tokens_record_nothing_and_never_redirect(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        accepted, mail = await _send(running, smtp)
        [click] = _click_links(mail)
        prefix, token = click.rsplit("/", 1)
        payload, signature = token.split(".")
        other_signature = ("x" if signature[0] != "x" else "y") + signature[1:]
        # Someone else's link in a token signed with our signature: forged.
        evil = tracking.TrackingTokens(b"not our secret").click_token(
            "default", accepted.name.rsplit("/", 1)[1], "https://evil.example/"
        )
        for bad, status in [
            (f"{prefix}/{payload}.{other_signature}", 403),
            (f"{prefix}/{evil}", 403),
            (f"{prefix}/not-a-token", 400),
            (f"{prefix}/{payload[:-3]}.{signature}", 403),
            (_pixel(mail).replace(tracking.OPEN_PATH, tracking.CLICK_PATH), 400),
        ]:
            answer = await running.http.get(bad)
            assert answer.status_code == status, (bad, answer.text)
            assert "location" not in answer.headers
        # A forged pixel still answers the image, and records nothing.
        pixel = _pixel(mail)
        for bad in (
            pixel + "x",
            pixel[:-1],
            click.replace(tracking.CLICK_PATH, tracking.OPEN_PATH),
        ):
            answer = await running.http.get(bad)
            assert answer.status_code == 200 and answer.content == PIXEL_GIF
        assert [s for s, *_ in await _history(running, accepted.name)] == ["QUEUED", "SENT"]

        # A token of ours for a message this deployment never sent: the link still goes
        # where it was signed to go, and nothing is recorded.
        unknown = tracking.TrackingTokens(b"a test secret").click_token(
            "default", "0" * 32, "https://shop.example/x"
        )
        answer = await running.http.get(f"{tracking.CLICK_PATH}{unknown}")
        assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example/x")


async def test_after_erasure_the_links_work_and_record_nothing(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        accepted, mail = await _send(running, smtp)
        erased = await running.stub.EraseCustomerMessages(
            pb.EraseCustomerMessagesRequest(parent=CUSTOMER)
        )
        assert erased.erased_message_count == 1
        assert (await running.http.get(_pixel(mail))).content == PIXEL_GIF
        [click] = _click_links(mail)
        answer = await running.http.get(click)
        assert (answer.status_code, answer.headers["location"]) == (302, SALE)
        history = await _history(running, accepted.name)
        message = await running.stub.GetMessage(pb.GetMessageRequest(name=accepted.name))
    assert [s for s, *_ in history] == ["QUEUED", "SENT"]
    assert not upstreams.profile.named("Email Opened")
    assert (message.open_count, message.click_count) == (0, 0)


async def test_without_tracking_the_body_is_left_as_it_was(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    # Tracking for another workspace only, and a transactional message where it is on.
    settings = _settings(
        tmp_path, upstreams, smtp, email_tracking={"other": {}}, workspaces=["default", "other"]
    )
    async with serve(settings) as running:
        _, mail = await _send(running, smtp)
    unsubscribe_url = mail["List-Unsubscribe"][1:-1]
    assert _html(mail) == html_with_link(RENDERED, unsubscribe_url)

    (tmp_path / "on").mkdir()
    async with serve(_settings(tmp_path / "on", upstreams, smtp)) as running:
        _, mail = await _send(running, smtp, "k-2", purpose="transactional")
        assert _html(mail) == RENDERED
    # Opens only: the pixel comes, the links stay.
    (tmp_path / "opens").mkdir()
    opens_only = {"*": {"clicks": False}}
    async with serve(
        _settings(tmp_path / "opens", upstreams, smtp, email_tracking=opens_only)
    ) as r:
        _, mail = await _send(r, smtp, "k-3")
        assert not _click_links(mail) and _pixel(mail)
        assert 'href="https://shop.example/sale?utm_source=mail&amp;ref=ada"' in _html(mail)


def test_tracking_settings(tmp_path: Path, upstreams: LoopUpstreams) -> None:
    # No secret configured: tracked links are signed with the key kept in the database.
    on = {"*": {}}
    assert loop_settings(tmp_path, upstreams, 2525, email_tracking=on, unsubscribe_secret=None)
    off = {"*": {"opens": False, "clicks": False}}
    assert loop_settings(tmp_path, upstreams, 2525, email_tracking=off, unsubscribe_secret=None)
    # A misspelt switch is refused, not read as "track everything".
    misspelt = {"*": {"open": False, "click": False}}
    with pytest.raises(ValidationError, match="open"):
        loop_settings(tmp_path, upstreams, 2525, email_tracking=misspelt)


WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    "setting",
    [
        {"email_tracking": {"defualt": {}}},
        {"quiet_hours": {"defualt": {"start": "21:00", "end": "08:00", "time_zone": "UTC"}}},
        {"frequency_caps": [{"limit": 1, "window_seconds": 60, "workspace": "defualt"}]},
        {"webhook_endpoints": {"*": {"url": "https://hooks.example/in", "secret": WHSEC}}},
    ],
    ids=lambda setting: next(iter(setting)),
)
def test_a_setting_for_a_workspace_not_served_is_refused(
    tmp_path: Path, upstreams: LoopUpstreams, setting: dict[str, Any]
) -> None:
    # Left unused, it would hold no quiet hours, track nothing, or fail every webhook.
    (name,) = setting
    with pytest.raises(ValidationError, match=f"{name} names workspaces not served here"):
        loop_settings(tmp_path, upstreams, 2525, **setting)
    served = {key: value for key, value in setting.items() if key != "webhook_endpoints"}
    assert loop_settings(tmp_path, upstreams, 2525, workspaces=["default", "defualt"], **served)


async def test_a_long_link_goes_out_and_comes_back_whole(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    # Its click link is a line longer than SMTP's 998 characters: the mail is encoded.
    long_link = "https://shop.example/p?" + "&".join(f"k{i}=v{i}" for i in range(150))
    content = message_content_pb2.MessageContent(
        subject="Sale",
        text_body=TEXT,
        html_body=f'<a href="{long_link.replace("&", "&amp;")}">x</a>',
    )
    async with serve(_settings(tmp_path, upstreams, smtp)) as running:
        accepted = await running.stub.SendMessage(send_request("k-1", content=content))
        assert (await settled(running.stub, accepted.name)).state == pb.MESSAGE_STATE_SENT
        [(_, mail)] = smtp.received
        [click] = _click_links(mail)
        assert len(click) > 998
        answer = await running.http.get(click)
    assert (answer.status_code, answer.headers["location"]) == (302, long_link)
