"""The links of an HTML email body, found as a browser's tokenizer finds them, and
changed in place: everything else stays byte for byte.

Links are the ``href`` of ``<a>`` and ``<area>`` tags (the first ``href`` of a tag, as
browsers take it), also inside Outlook's conditional comments (``<!--[if mso]>``, HTML
that Outlook shows); other comments and the raw text of ``<script>``, ``<style>``,
``<textarea>``... are skipped. A tag or comment left open at the end of the document is
not a tag (browsers drop it), so nothing from there on is touched. The scan is linear in
the document's length, whatever the document.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.entities import html5

# A link with this attribute is never rewritten (what a template author writes to keep
# one link, e.g. a password reset, out of click tracking).
NO_TRACK_ATTRIBUTE = "data-rapport-notrack"

_TAG_NAME = re.compile(r"</?([A-Za-z][^\t\n\f\r />]*)")
# Between attributes: whitespace and stray slashes (`<a/href=...>`, `<br/>`).
_GAP = re.compile(r"[\t\n\f\r /]*")
# The first character may be `=` (as in the HTML tokenizer); the others stop at it.
_ATTRIBUTE_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_EQUALS = re.compile(r"[\t\n\f\r ]*=[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_RAW_TEXT_NAMES = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
_RAW_TEXT_END = {
    # ASCII: tag names match as browsers match them (no "ſ" for "s").
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE | re.ASCII)
    for name in _RAW_TEXT_NAMES
}
# The rest of a tag whose attributes are all well formed (names without quotes, values
# quoted or plainly unquoted), to its `>`: read as the tokenizer reads it.
_PLAIN_TAG_REST = (
    r"""(?:[\t\n\f\r /]++[^\t\n\f\r />="'<`]++"""
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >"'=<`]++))?+)*+"""
    r"""[\t\n\f\r /]*+>"""
)
# What holds no link, read in one step (in C, without backtracking: possessive) from
# its `<`: a `<` starting no tag, a bogus comment (`<!DOCTYPE ...>`, `<?xml ...?>`), an
# end tag, or a start tag other than a link or raw text, with plain attributes. Anything
# else is read step by step (_scan).
_NOTHING_TO_SEE = re.compile(
    r"<(?![!/?A-Za-z])"
    r"|<(?:!(?!--)|\?|/(?![A-Za-z]))[^>]*+>"
    r"|</[A-Za-z][^\t\n\f\r />]*+"
    + _PLAIN_TAG_REST
    + "|<(?!(?i:a|area|"
    + "|".join(_RAW_TEXT_NAMES)
    + r")[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
    + _PLAIN_TAG_REST,
    re.ASCII,
)
_BODY_END = re.compile("</body>", re.IGNORECASE | re.ASCII)
_LINK_TAGS = frozenset({"a", "area"})
# html.unescape's own pattern; what a match means in an attribute is decided below.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


@dataclass(frozen=True)
class Link:
    # The attribute value's place in the document, its quotes included.
    start: int
    end: int
    # The value as a browser reads it (character references decoded).
    url: str


def _attribute_charref(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] == "#":
        return html.unescape(match.group(0))
    if name.endswith(";") and name in html5:
        return html5[name]
    # A legacy reference without `;` (`&amp`, `&copy`...): in an attribute it stays as
    # written when a letter, digit or `=` follows (`?a=1&copy=2` is a query, not ©=2).
    for length in range(min(len(name), 32), 1, -1):
        prefix = name[:length]
        if prefix in html5:
            following = name[length : length + 1]
            if following == "=" or (following.isascii() and following.isalnum()):
                return match.group(0)
            return html5[prefix] + name[length:]
    return match.group(0)


def attribute_value(raw: str) -> str:
    """An attribute's text as the HTML tokenizer decodes it."""
    if "&" not in raw:
        return raw
    return _CHARREF.sub(_attribute_charref, raw)


def _attributes(
    document: str, at: int, stop: int
) -> tuple[int, list[tuple[str, int, int, str | None]]]:
    """From just after a tag's name: the position of its closing `>` (-1: none before
    `stop`) and its attributes as (lowercased name, value start, value end, raw value
    without quotes; None for an attribute without a value)."""
    attributes: list[tuple[str, int, int, str | None]] = []
    while True:
        at = _GAP.match(document, at, stop).end()  # type: ignore[union-attr]
        if at >= stop:
            return -1, attributes
        if document[at] == ">":
            return at, attributes
        name = _ATTRIBUTE_NAME.match(document, at, stop)
        assert name is not None  # the character at `at` is none of those the gap takes
        at = name.end()
        equals = _EQUALS.match(document, at, stop)
        if equals is None:
            attributes.append((name.group().lower(), at, at, None))
            continue
        at = equals.end()
        if at >= stop:
            return -1, attributes
        quote = document[at]
        if quote in "\"'":
            closing = document.find(quote, at + 1, stop)
            if closing == -1:
                return -1, attributes
            attributes.append((name.group().lower(), at, closing + 1, document[at + 1 : closing]))
            at = closing + 1
        else:
            value = _UNQUOTED.match(document, at, stop)
            assert value is not None  # it matches the empty string
            attributes.append((name.group().lower(), at, value.end(), value.group()))
            at = value.end()


def _link(attributes: list[tuple[str, int, int, str | None]]) -> Link | None:
    if any(name == NO_TRACK_ATTRIBUTE for name, *_ in attributes):
        return None
    for name, start, end, raw in attributes:
        if name == "href":
            # Browsers keep the first of repeated attributes.
            return Link(start, end, attribute_value(raw)) if raw is not None else None
    return None


def _comment_end(document: str, opening: int, stop: int) -> int:
    """Where the comment opened at `opening` ends (after its `>`); -1: it does not."""
    after = opening + 4
    if document.startswith(">", after, stop):  # <!--> (an abrupt empty comment)
        return after + 1
    if document.startswith("->", after, stop):  # <!--->
        return after + 2
    closing = document.find("-->", after, stop)
    return -1 if closing == -1 else closing + 3


def _scan(document: str, at: int, stop: int, found: list[Link]) -> None:
    find, nothing_to_see = document.find, _NOTHING_TO_SEE.match
    while True:
        opening = find("<", at, stop)
        if opening == -1:
            return
        ordinary = nothing_to_see(document, opening, stop)
        if ordinary is not None:
            at = ordinary.end()
            continue
        if document.startswith("<!--", opening, stop):
            end = _comment_end(document, opening, stop)
            if end == -1:
                return
            if document.startswith("[if", opening + 4, end):
                _scan(document, opening + 4, end - 3, found)
            at = end
            continue
        tag = _TAG_NAME.match(document, opening, stop)
        if tag is None:
            if document[opening + 1 : opening + 2] not in ("!", "?", "/"):
                at = opening + 1  # a `<` starting nothing
                continue
            # A bogus comment (`<!DOCTYPE html>`, `<?xml ...?>`) runs to its `>`.
            closing = document.find(">", opening, stop)
            if closing == -1:
                return
            at = closing + 1
            continue
        end, attributes = _attributes(document, tag.end(), stop)
        if end == -1:
            return
        at = end + 1
        if document[opening + 1] == "/":
            continue
        name = tag.group(1).lower()
        if name in _LINK_TAGS:
            link = _link(attributes)
            if link is not None:
                found.append(link)
        elif name in _RAW_TEXT_END:
            raw_end = _RAW_TEXT_END[name].search(document, at, stop)
            if raw_end is None:
                return
            at = raw_end.start()


def find_links(document: str) -> list[Link]:
    """The document's links in order (none overlapping)."""
    found: list[Link] = []
    _scan(document, 0, len(document), found)
    return found


def rewrite_links(document: str, replace: Callable[[str], str | None]) -> str:
    """The document with each link `replace` gives a new URL for (None: kept as it is)
    written as that URL, double-quoted and escaped; every other byte unchanged."""
    pieces: list[str] = []
    kept_to = 0
    for link in find_links(document):
        new_url = replace(link.url)
        if new_url is None:
            continue
        pieces.append(document[kept_to : link.start])
        pieces.append(f'"{html.escape(new_url, quote=True)}"')
        kept_to = link.end
    if not pieces:
        return document
    pieces.append(document[kept_to:])
    return "".join(pieces)


def append_to_body(document: str, snippet: str) -> str:
    """`snippet` at the end of the body: before the last `</body>` when there is one."""
    if document.isascii():
        closing = document.lower().rfind("</body>")
    else:
        # Not lower().rfind(): lowering may change the length ("İ" becomes two).
        closing = -1
        for found in _BODY_END.finditer(document):
            closing = found.start()
    if closing == -1:
        return f"{document}\n{snippet}"
    return f"{document[:closing]}{snippet}\n{document[closing:]}"
