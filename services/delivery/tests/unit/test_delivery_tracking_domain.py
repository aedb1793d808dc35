"""Open and click tracking's pure parts: tracking tokens (and the unsubscribe tokens that
share their signing code), which links are rewritten, the HTML scan that finds them, and
that everything it does not rewrite is kept byte for byte."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapport.delivery.domain import html_links, tracking
from rapport.delivery.domain.model import Channel
from rapport.delivery.domain.signed_tokens import TokenMalformed, TokenRefused
from rapport.delivery.domain.unsubscribe import Unsubscribe, UnsubscribeTokens

TOKENS = tracking.TrackingTokens(b"secret")
OWN = "https://d.example/v1/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_unsubscribe_tokens_are_what_they_were_before_the_shared_signing_code() -> None:
    # Links already in mailboxes must keep working: the format is pinned here.
    issued = datetime(2030, 1, 1, tzinfo=UTC)
    subject = Unsubscribe("default", "c0ffee", Channel.EMAIL, "marketing", "m1", issued)
    payload = json.dumps(
        {"w": "default", "c": "c0ffee", "ch": "EMAIL", "p": "marketing", "m": "m1"}
        | {"t": int(issued.timestamp())},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    key = hmac.new(b"secret", b"rapport.delivery.unsubscribe.v1", hashlib.sha256).digest()
    expected = f"{_b64(payload)}.{_b64(hmac.new(key, payload, hashlib.sha256).digest())}"
    tokens = UnsubscribeTokens(b"secret", timedelta(days=180))
    assert tokens.issue(subject) == expected
    assert tokens.read(expected, issued) == subject


def test_tracking_tokens_name_the_message_and_the_link() -> None:
    opened = TOKENS.open_token("default", "m1")
    clicked = TOKENS.click_token("default", "m1", "https://shop.example/sale?x=1")
    assert TOKENS.read_open(opened) == tracking.Tracked("default", "m1")
    assert TOKENS.read_click(clicked) == tracking.Tracked(
        "default", "m1", "https://shop.example/sale?x=1"
    )
    # The same on every attempt: a retried mail carries the same links.
    assert TOKENS.click_token("default", "m1", "https://shop.example/sale?x=1") == clicked


def test_a_token_of_one_kind_or_use_is_no_token_of_another() -> None:
    opened = TOKENS.open_token("default", "m1")
    with pytest.raises(TokenMalformed):
        TOKENS.read_click(opened)
    with pytest.raises(TokenMalformed):
        TOKENS.read_open(TOKENS.click_token("default", "m1", "https://x.example/"))
    # An unsubscribe token under the same secret: another derived key.
    unsubscribe = UnsubscribeTokens(b"secret", timedelta(days=1)).issue(
        Unsubscribe("default", "c", Channel.EMAIL, "marketing", "m1", datetime.now(UTC))
    )
    with pytest.raises(TokenRefused):
        TOKENS.read_open(unsubscribe)
    with pytest.raises(TokenRefused):
        tracking.TrackingTokens(b"other").read_open(opened)


def test_a_signed_token_whose_link_is_not_trackable_is_refused() -> None:
    # Only links trackable_url accepts are ever signed; one that is not cannot redirect.
    token = TOKENS.click_token("default", "m1", "javascript:alert(1)")
    with pytest.raises(TokenMalformed):
        TOKENS.read_click(token)


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_any_changed_character_of_a_click_token_is_refused() -> None:
    """Every position, every other base64url character: refused. A last character's
    unused low bits included (they decode to the same bytes; a token has one spelling)."""
    token = TOKENS.click_token("default", "m1", "https://shop.example/a")
    assert token is not None
    for index, kept in enumerate(token):
        if kept == ".":
            continue
        for replacement in _BASE64URL.replace(kept, ""):
            with pytest.raises((TokenRefused, TokenMalformed)):
                TOKENS.read_click(token[:index] + replacement + token[index + 1 :])


def test_a_link_whose_token_would_be_too_long_to_read_is_not_tracked() -> None:
    # Under the 2,000 characters of a trackable link, but JSON doubles each backslash
    # and quote: its token would be longer than the click endpoint reads.
    url = "https://shop.example/?q=" + "\\" * 1950
    assert tracking.trackable_url(url) == url
    assert TOKENS.click_token("default", "m1", url) is None
    short = "https://shop.example/ok"
    document = f"<a href='{html.escape(url)}'>a</a><a href='{short}'>b</a>"

    def link_url(link: str) -> str | None:
        token = TOKENS.click_token("default", "m1", link)
        return None if token is None else tracking.click_url("https://d.example", token)

    tracked = tracking.tracked_html(document, pixel_url=None, link_url=link_url, own_prefix=OWN)
    assert tracked.startswith(f"<a href='{html.escape(url)}'>a</a>")  # kept as it was
    [rewritten] = re.findall(r'href="([^"]+)"', tracked)
    token = html.unescape(rewritten).rsplit("/", 1)[1]
    assert TOKENS.read_click(token).url == short


@given(st.text(max_size=300))
def test_arbitrary_text_is_never_a_tracking_token(text: str) -> None:
    with pytest.raises((TokenRefused, TokenMalformed)):
        TOKENS.read_click(text)
    with pytest.raises((TokenRefused, TokenMalformed)):
        TOKENS.read_open(text)


@pytest.mark.parametrize(
    ("link", "tracked"),
    [
        ("https://shop.example/sale?a=1#top", "https://shop.example/sale?a=1#top"),
        ("  HTTP://Shop.example/  ", "HTTP://Shop.example/"),
        ("mailto:ada@example.com", None),
        ("tel:+14155550123", None),
        ("#section", None),
        ("/relative/path", None),
        ("//shop.example/no-scheme", None),
        ("javascript:alert(1)", None),
        ("data:text/html,hi", None),
        ("ftp://files.example/x", None),
        ("https:///no-host", None),
        ("https://shop.example:port/", None),
        ("https://shop.example/a b", None),
        ("https://shop.example/\u00e9", None),
        ("https://shop.example/\n", "https://shop.example/"),
        ("https://shop.example/a\nb", None),
        ("https://shop.example/" + "a" * tracking.MAX_URL_CHARS, None),
        (OWN + "unsubscribe/abc.def", None),
    ],
)
def test_which_links_are_tracked(link: str, tracked: str | None) -> None:
    assert tracking.trackable_url(link, OWN) == tracked


def test_a_click_is_recorded_without_user_info_query_and_fragment() -> None:
    assert tracking.click_reason("https://u:p@shop.example:8443/a/b?email=ada#x") == (
        "https://shop.example:8443/a/b"
    )
    assert tracking.click_reason("http://[::1]/x") == "http://[::1]/x"
    assert len(tracking.click_reason("https://shop.example/" + "a" * 1000)) == 200


def test_links_are_found_as_a_browser_finds_them() -> None:
    document = (
        '<a href="https://a.example/?x=1&amp;y=2&copy=3&copy;">a</a>'
        "<A HREF = 'https://b.example/' href='https://ignored.example/'>b</A>"
        "<a href=https://c.example/>c</a>"
        '<a data-rapport-notrack href="https://reset.example/">r</a>'
        '<area href="https://d.example/">'
        '<!--[if mso]><a href="https://outlook.example/">o</a><![endif]-->'
        '<!-- <a href="https://commented.example/"> -->'
        "<style>a::after { content: \"<a href='https://styled.example/'>\" }</style>"
        '<p title="<a href=https://attr.example/>">p</p>'
        '<!x <a href="https://bogus.example/">a < b<!--><a href="https://f.example/">'
        '<?xml <a href="https://xml.example/"?><!---><a href="https://g.example/">'
        '<a href="https://e.example/"'
    )
    assert [link.url for link in html_links.find_links(document)] == [
        "https://a.example/?x=1&y=2&copy=3\u00a9",
        "https://b.example/",
        "https://c.example/",
        "https://d.example/",
        "https://outlook.example/",
        "https://f.example/",
        "https://g.example/",
    ]


def test_tracking_adds_the_pixel_and_rewrites_only_trackable_links() -> None:
    document = (
        '<html><body><a href="https://shop.example/?a=1&amp;b=2">Shop</a>'
        '<a href="mailto:ada@example.com">Mail</a><a href="#top">Top</a>'
        f'<a href="{OWN}unsubscribe/t.s">Unsubscribe</a></body></html>'
    )
    seen: list[str] = []

    def link_url(url: str) -> str:
        seen.append(url)
        return f"https://d.example/v1/email/click/{len(seen)}?&"

    tracked = tracking.tracked_html(
        document, pixel_url="https://d.example/v1/email/open/T", link_url=link_url, own_prefix=OWN
    )
    assert seen == ["https://shop.example/?a=1&b=2"]
    assert tracked == (
        '<html><body><a href="https://d.example/v1/email/click/1?&amp;">Shop</a>'
        '<a href="mailto:ada@example.com">Mail</a><a href="#top">Top</a>'
        f'<a href="{OWN}unsubscribe/t.s">Unsubscribe</a>'
        '<img src="https://d.example/v1/email/open/T" width="1" height="1" alt="" border="0" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;overflow:hidden">'
        "\n</body></html>"
    )
    untouched = tracking.tracked_html(document, pixel_url=None, link_url=None, own_prefix=OWN)
    assert untouched is document


def test_the_body_end_is_found_when_lowering_changes_the_length() -> None:
    # "İ".lower() is two characters: an index into the lowered text would be off.
    assert html_links.append_to_body("İİ<p>x</p></BODY>", "<i>") == "İİ<p>x</p><i>\n</BODY>"
    assert html_links.append_to_body("no body", "<i>") == "no body\n<i>"


# --- properties over arbitrary documents ---------------------------------------------------

# Pieces of markup, so that random documents are mostly tags, attributes and comments.
_FRAGMENTS = (
    "<a", "<A", "<area", "<td", "</td", "</a", "<style", "</style", "<script", "</script",
    "<!--", "-->", "<!--[if mso]>", "<![endif]-->", "<!x", "<?", "<!-->", " href", " HREF",
    " style", " data-rapport-notrack", "=", " = ", '"', "'", "`", ">", "/", " ", "\n",
    "https://x.example/", "mailto:a@b", "&amp;", "&copy", "&#38;", "text", "<", "İ",
    '<a href="https://x.example/?a=1&amp;b">', "<a href=https://y.example/>",
    "<A HREF='https://z.example/' href=x>", '<a data-rapport-notrack href="https://n.example/">',
    '<td style="color:red" class=c>', '<p title="<a href=https://t.example/>">', "</a>",
    '<img src="x.png" alt=\'<a href="https://i.example/">\'/>', "<style>", "</style>",
    '<td title=">"', "<p class='a>b'", "<p a=b=c", '<b x="1"y=2', "<i \"q\"=1",
)  # fmt: skip
_HTMLISH = st.one_of(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=60).map("".join),
    st.text(
        alphabet=st.sampled_from(list("<>/!-=\"' \n\tahrefAHREFsyltcrip&#;:x1[]"))
        | st.characters(),
        max_size=400,
    ),
)


@settings(max_examples=400)
@given(_HTMLISH)
def test_the_scan_never_raises_and_keeps_every_byte_it_does_not_rewrite(document: str) -> None:
    assert html_links.rewrite_links(document, lambda url: None) is document
    links = html_links.find_links(document)
    at = 0
    for link in links:
        assert at <= link.start <= link.end <= len(document)
        raw = document[link.start : link.end]
        if raw[:1] in ("'", '"'):
            assert raw[-1] == raw[0] and len(raw) >= 2
            raw = raw[1:-1]
        assert html_links.attribute_value(raw) == link.url
        at = link.end
    marks = iter(range(len(links)))
    rewritten = html_links.rewrite_links(document, lambda url: f"MARK{next(marks)}")
    # Put each original value back: the document comes back exactly.
    pieces, kept_to = [], 0
    for index, link in enumerate(links):
        pieces.append(document[kept_to : link.start] + f'"MARK{index}"')
        kept_to = link.end
    pieces.append(document[kept_to:])
    assert rewritten == "".join(pieces)
    tracking.tracked_html(document, pixel_url="https://d/p", link_url=str.upper, own_prefix=OWN)


@settings(max_examples=400)
@given(_HTMLISH)
def test_the_quick_read_of_ordinary_tags_agrees_with_the_step_by_step_one(document: str) -> None:
    quick = html_links.find_links(document)
    original = html_links._NOTHING_TO_SEE
    html_links._NOTHING_TO_SEE = re.compile("(?!)")  # never matches: every tag step by step
    try:
        assert html_links.find_links(document) == quick
    finally:
        html_links._NOTHING_TO_SEE = original


_TEXT = st.text(max_size=40).map(html.escape)
_HREF = st.one_of(
    st.builds(
        lambda host, path: f"https://{host}.example/{path}",
        st.text(alphabet="abcxyz", min_size=1, max_size=8),
        st.text(max_size=30),
    ),
    st.sampled_from(["mailto:a@b.example", "tel:+1", "#top", "/rel", "javascript:x", ""]),
    st.text(max_size=30),
)


@settings(max_examples=300)
@given(st.lists(st.one_of(_TEXT.map(lambda t: ("text", t)), _HREF.map(lambda h: ("a", h)))))
def test_a_document_comes_out_with_exactly_its_trackable_links_rewritten(
    parts: list[tuple[str, str]],
) -> None:
    def build(rewrite: bool) -> str:
        out = []
        for kind, value in parts:
            if kind == "text":
                out.append(value)
                continue
            url = tracking.trackable_url(value, OWN)
            shown = f"https://d.example/c/{url}" if rewrite and url is not None else value
            out.append(f'<a class="x" href="{html.escape(shown, quote=True)}">{kind}</a>')
        return "".join(out)

    assert tracking.tracked_html(
        build(False),
        pixel_url=None,
        link_url=lambda url: f"https://d.example/c/{url}",
        own_prefix=OWN,
    ) == build(True)
