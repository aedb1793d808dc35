"""Open and click tracking of the HTML email delivery sends itself (SMTP providers
report neither): a 1x1 pixel and links rewritten to delivery's HTTP endpoint, with
signed tokens naming the message (and, for a click, the link).

- A click token carries the link it leads to, signed with the message: the endpoint
  only ever redirects where a mail of ours pointed, so it is no open redirect, and a
  link keeps working after its message was erased (nothing is recorded then).
- Tokens do not expire: a link in a mail works as long as the mail is kept, and an
  open years later still counts ("not opened in two years" must see it).
- Only http(s) links with a host, in printable ASCII and at most MAX_URL_CHARS long,
  are rewritten; mailto:, tel:, anchors, relative links, other schemes, links to
  delivery's own endpoint (the unsubscribe link) and links marked
  ``data-rapport-notrack`` are left as they are. Plain-text parts are left as they are:
  the reader of a text part sees the link itself (where it goes is part of trusting it),
  and clients wrap long lines, which breaks a long rewritten link.

Known limits: Apple Mail Privacy Protection (and some corporate proxies) fetches every
image when the mail arrives, so an open there is "the mail reached an Apple Mail
client", not "a person read it"; clients that block images record no open until a
link is clicked (a click also records the open, once). Link scanners (Safe Links,
Proofpoint) that follow links with GET record clicks; HEAD requests are not counted.
The pixel is at the end of the body: Gmail clips a body over ~102 KB, and an open
there counts only once the reader asks for the rest (or clicks).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import html_links
from .signed_tokens import SignedTokens, TokenMalformed

MAX_URL_CHARS = 2000
# Room for a link of MAX_URL_CHARS in base64 with the ids and the signature.
_MAX_TOKEN_CHARS = 4096
# StatusChange.reason's bound (provider_events).
_MAX_REASON = 200
_OPEN = "o"
_CLICK = "c"
OPEN_PATH = "/v1/email/open/"
CLICK_PATH = "/v1/email/click/"
# Every client shows it: a 1x1 image, no border, no room taken.
_PIXEL = (
    '<img src="{src}" width="1" height="1" alt="" border="0" style="display:block;'
    'width:1px;height:1px;border:0;margin:0;padding:0;overflow:hidden">'
)


@dataclass(frozen=True)
class EmailTracking:
    """What a workspace's email carries (EMAIL_TRACKING)."""

    opens: bool = True
    clicks: bool = True
    # Service messages (password resets...) too: off unless asked, their links may
    # carry secrets that are better not routed through a redirect.
    transactional: bool = False


def tracking_for(config: Mapping[str, EmailTracking], workspace: str) -> EmailTracking | None:
    """The workspace's own entry, else the "*" one; None: no tracking."""
    return config.get(workspace, config.get("*"))


@dataclass(frozen=True)
class Tracked:
    """What a tracking token names."""

    workspace: str
    message_id: str
    # The link a click token leads to ("" for an open).
    url: str = ""


class TrackingTokens:
    def __init__(self, secret: bytes) -> None:
        self._tokens = SignedTokens(
            secret,
            b"rapport.delivery.tracking.v1",
            what="a tracking token",
            max_chars=_MAX_TOKEN_CHARS,
        )

    def open_token(self, workspace: str, message_id: str) -> str:
        return self._tokens.issue({"k": _OPEN, "w": workspace, "m": message_id})

    def click_token(self, workspace: str, message_id: str, url: str) -> str | None:
        """None when the token would be longer than the click endpoint reads (a link of
        many quotes or backslashes, which JSON doubles): that link is not tracked."""
        token = self._tokens.issue({"k": _CLICK, "w": workspace, "m": message_id, "u": url})
        return token if len(token) <= _MAX_TOKEN_CHARS else None

    def read_open(self, token: str) -> Tracked:
        return self._read(token, _OPEN)

    def read_click(self, token: str) -> Tracked:
        """TokenMalformed / TokenRefused; the link it names passed trackable_url when
        it was issued and passes it again (a token of ours is no way to anywhere else)."""
        tracked = self._read(token, _CLICK)
        if trackable_url(tracked.url) != tracked.url:
            raise TokenMalformed("not a tracking token")
        return tracked

    def _read(self, token: str, kind: str) -> Tracked:
        fields = self._tokens.read(token)
        workspace, message_id, url = fields.get("w"), fields.get("m"), fields.get("u", "")
        if (
            fields.get("k") != kind
            or not isinstance(workspace, str)
            or not isinstance(message_id, str)
            or not isinstance(url, str)
        ):
            raise TokenMalformed("not a tracking token")
        return Tracked(workspace, message_id, url)


def trackable_url(value: str, own_prefix: str = "") -> str | None:
    """The link to record and redirect to (surrounding whitespace dropped, as browsers
    do), or None when it is not rewritten."""
    url = value.strip(" \t\n\f\r")
    if (
        not url
        or len(url) > MAX_URL_CHARS
        or not url.isascii()
        or not url.isprintable()
        or " " in url
        or (own_prefix and url.startswith(own_prefix))
    ):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def click_reason(url: str) -> str:
    """What a click's status change says: the link without user info, query and
    fragment (those carry tokens and personal data; the redirect keeps them)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"[:_MAX_REASON]


def tracked_html(
    document: str,
    *,
    pixel_url: str | None,
    link_url: Callable[[str], str | None] | None,
    own_prefix: str,
) -> str:
    """`document` with each trackable link rewritten to `link_url(link)` (`link_url`
    None, or its answer None: links kept) and the open pixel at the end of the body
    (`pixel_url` None: none)."""
    if link_url is not None:
        rewrite = link_url

        def replace(link: str) -> str | None:
            url = trackable_url(link, own_prefix)
            return rewrite(url) if url is not None else None

        document = html_links.rewrite_links(document, replace)
    if pixel_url is not None:
        pixel = _PIXEL.format(src=html.escape(pixel_url, quote=True))
        document = html_links.append_to_body(document, pixel)
    return document


def open_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{OPEN_PATH}{token}"


def click_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{CLICK_PATH}{token}"
