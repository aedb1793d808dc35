"""Handler helpers: HTTP Basic parsing and bounded gzip bodies."""

from __future__ import annotations

import base64
import tracemalloc
import zlib
from collections.abc import Iterable

import pytest
from rapport.httpserver import BasicCredentials, basic_credentials, read_body
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message


def _request(headers: dict[str, str], chunks: Iterable[bytes] = ()) -> Request:
    pending = list(chunks)

    async def receive() -> Message:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
    }
    return Request(scope, receive)


def _basic(raw: bytes) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (_basic(b"wk_123:"), BasicCredentials("wk_123", "")),  # a Segment write key
        (_basic(b"user:pa:ss"), BasicCredentials("user", "pa:ss")),
        (_basic("zoë:ça".encode()), BasicCredentials("zoë", "ça")),
        (
            {"authorization": "bAsIc  " + base64.b64encode(b"u:p").decode()},
            BasicCredentials("u", "p"),
        ),
        ({}, None),
        ({"authorization": "Bearer abc"}, None),
        ({"authorization": "Basic"}, None),
        ({"authorization": "Basic !!!not-base64"}, None),
        (_basic(b"no-colon"), None),
        (_basic(b"\xff\xfe:x"), None),
    ],
)
def test_basic_credentials(headers: dict[str, str], expected: BasicCredentials | None) -> None:
    assert basic_credentials(_request(headers)) == expected


def test_basic_credentials_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(BasicCredentials("user", "hunter2"))


def _gzip_stream(total: int, chunk: int = 1 << 20) -> list[bytes]:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [deflate.compress(bytes(chunk)) for _ in range(total // chunk)]
    return [b for b in [*out, deflate.flush()] if b]


async def test_gzip_bomb_is_never_inflated_past_the_limit() -> None:
    # 64 MiB of zeros, ~64 KiB compressed, in one chunk as a socket read may bring it.
    bomb = b"".join(_gzip_stream(64 << 20))
    request = _request({"content-encoding": "gzip"}, [bomb])
    tracemalloc.start()
    try:
        with pytest.raises(HTTPException) as caught:
            await read_body(request, max_bytes=256 << 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status_code == 413
    assert peak < 4 << 20, f"peak {peak} bytes: the bomb was inflated"


async def test_gzip_body_in_several_chunks() -> None:
    payload = b'{"batch": [' + b'{"type": "track"},' * 2000 + b"{}]}"
    compressed = zlib.compress(payload, wbits=16 + zlib.MAX_WBITS)
    pieces = [compressed[i : i + 100] for i in range(0, len(compressed), 100)]
    body = await read_body(_request({"content-encoding": "GZIP"}, pieces), max_bytes=len(payload))
    assert body == payload
    with pytest.raises(HTTPException) as caught:
        await read_body(_request({"content-encoding": "gzip"}, pieces), max_bytes=len(payload) - 1)
    assert caught.value.status_code == 413


async def test_read_body_outside_the_runtime_needs_a_limit() -> None:
    with pytest.raises(RuntimeError, match="max_bytes"):
        await read_body(_request({}, [b"x"]))
    assert await read_body(_request({}, [b"ab", b"c"]), max_bytes=3) == b"abc"
