"""Helpers for handlers: bodies (gzip, size-limited) and HTTP Basic credentials."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import HTTPConnection, Request

__all__ = ["BasicCredentials", "basic_credentials", "read_body"]

# wbits for the gzip container (header and CRC checked), not raw deflate or zlib.
_GZIP = 16 + zlib.MAX_WBITS


async def read_body(request: Request, max_bytes: int | None = None) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip``.

    ``max_bytes`` (default: the limit the runtime applies to this request, the
    ``http_max_body_bytes`` setting or the route's ``max_body_size``) bounds the
    body *after* decompression, checked while inflating: a small gzip bomb is
    refused with 413 without ever being inflated past the limit. A body that is
    not valid gzip is 400; another encoding is 415.
    """
    limit = max_bytes if max_bytes is not None else request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    if limit is None:
        raise RuntimeError("read_body needs max_bytes outside the runtime's HTTP server")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return await _read_plain(request, limit)
    if encoding == "gzip":
        return await _read_gzip(request, limit)
    raise HTTPException(415, "Content-Encoding must be gzip or identity")


async def _read_plain(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, "Content Too Large")
    return bytes(body)


async def _read_gzip(request: Request, limit: int) -> bytes:
    body = bytearray()
    inflater = zlib.decompressobj(_GZIP)
    complete_members = 0
    member_started = False
    try:
        async for chunk in request.stream():
            data = chunk
            while data:
                member_started = True
                # One byte more than allowed is enough to know it is too large.
                body += inflater.decompress(data, limit - len(body) + 1)
                if len(body) > limit:
                    raise HTTPException(413, "Content Too Large")
                if inflater.eof:
                    # RFC 1952 allows several members one after the other.
                    complete_members += 1
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(_GZIP)
                    member_started = False
                else:
                    # Empty unless the output limit was reached, which raised above.
                    data = inflater.unconsumed_tail
    except zlib.error:
        raise HTTPException(400, "the body is not valid gzip") from None
    if member_started or complete_members == 0:
        raise HTTPException(400, "the gzip body is empty or truncated")
    return bytes(body)


@dataclass(frozen=True)
class BasicCredentials:
    """HTTP Basic credentials (RFC 7617); a Segment write key is the username."""

    username: str
    password: str = field(repr=False)


def basic_credentials(connection: HTTPConnection) -> BasicCredentials | None:
    """The request's ``Authorization: Basic`` credentials; None when absent or malformed.

    Compare secrets with ``hmac.compare_digest``, and answer 401 with a
    ``WWW-Authenticate: Basic`` header when the result does not authorise.
    """
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    if not colon:
        return None
    return BasicCredentials(username, password)
