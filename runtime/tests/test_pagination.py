from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from rapport.errors import InvalidArgument
from rapport.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageTokens,
    page_size,
    paginate,
)

TOKENS = PageTokens("a shared secret of the deployment")
BOUND = "ListThings:workspaces/default"


def _refused(tokens: PageTokens, token: str, bound_to: str = BOUND, field: str = "page_token"):
    with pytest.raises(InvalidArgument) as raised:
        tokens.decode(token, bound_to=bound_to, field=field)
    assert raised.value.field == field
    return raised.value


def test_page_size_defaults_clamps_and_refuses_negatives() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE
    assert page_size(7) == 7
    assert page_size(MAX_PAGE_SIZE + 1) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as raised:
        page_size(-1, field="page_size")
    assert raised.value.field == "page_size"


def test_a_token_round_trips_and_an_empty_one_is_the_first_page() -> None:
    position = {"t": "2030-01-01T00:00:00+00:00", "id": "m-17", "p": 0.25, "n": 3}
    token = TOKENS.encode(position, bound_to=BOUND)
    assert TOKENS.decode(token, bound_to=BOUND) == position
    assert TOKENS.decode("", bound_to=BOUND) is None


def test_a_token_reveals_nothing_of_its_position() -> None:
    token = TOKENS.encode({"id": "customer-secret-id"}, bound_to=BOUND)
    padded = token + "=" * (-len(token) % 4)
    assert b"customer-secret-id" not in base64.urlsafe_b64decode(padded)
    assert "=" not in token and "/" not in token and "+" not in token  # URL-safe
    # Two tokens of the same position differ (random IV): nothing to compare either.
    assert TOKENS.encode({"id": "x"}, bound_to=BOUND) != TOKENS.encode({"id": "x"}, bound_to=BOUND)


def test_a_tampered_token_is_refused() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = TOKENS.encode({"after": "a"}, bound_to=BOUND)
    for i in (0, 12, len(token) // 2, len(token) - 2):
        # The high bit of the 6-bit digit: never one of the final digit's spare bits.
        other = alphabet[alphabet.index(token[i]) ^ 0b100000]
        err = _refused(TOKENS, token[:i] + other + token[i + 1 :])
        assert err.description == "is not a token returned by this method"


def test_a_forged_or_old_style_token_is_refused() -> None:
    # The format before encryption: base64 JSON anyone could write.
    forged = base64.urlsafe_b64encode(json.dumps({"p": {"after": "zzz"}, "b": "x"}).encode())
    forged = forged.decode().rstrip("=")
    _refused(TOKENS, forged)
    for garbage in ("x", "!!!!", "é", "\x00", "a" * 500, "gAAAAA"):
        _refused(TOKENS, garbage, field="request.page_token")


def test_a_token_of_another_key_is_refused() -> None:
    token = PageTokens("another deployment").encode({"after": "a"}, bound_to=BOUND)
    _refused(TOKENS, token)


def test_a_token_of_another_request_is_refused() -> None:
    token = TOKENS.encode({"after": "a"}, bound_to=BOUND)
    err = _refused(TOKENS, token, bound_to="ListThings:workspaces/other")
    assert err.description == "belongs to a request with other parameters"


def test_keys_as_str_bytes_and_secret_are_the_same_key() -> None:
    token = PageTokens("k").encode({"a": 1}, bound_to=BOUND)
    assert PageTokens(b"k").decode(token, bound_to=BOUND) == {"a": 1}
    assert PageTokens(SecretStr("k")).decode(token, bound_to=BOUND) == {"a": 1}
    with pytest.raises(ValueError):
        PageTokens("")


def test_without_a_key_tokens_hold_within_the_process_only() -> None:
    one, two = PageTokens(None), PageTokens(None)
    token = one.encode({"a": 1}, bound_to=BOUND)
    assert two.decode(token, bound_to=BOUND) == {"a": 1}  # same process, same key
    _refused(TOKENS, token)  # a replica with another key refuses it


@given(st.text(max_size=300))
def test_any_text_is_a_position_or_invalid_argument(token: str) -> None:
    try:
        TOKENS.decode(token, bound_to=BOUND)
    except InvalidArgument as err:
        assert err.field == "page_token"


@given(st.binary(max_size=200))
def test_any_base64_is_refused_as_invalid_argument(raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    if token:
        _refused(TOKENS, token)


def test_paginate_cuts_the_extra_row_and_points_after_the_last_one() -> None:
    rows = [{"id": f"r{i}"} for i in range(4)]
    page, token = paginate(rows, 3, lambda r: {"after": r["id"]}, tokens=TOKENS, bound_to=BOUND)
    assert page == rows[:3]
    assert TOKENS.decode(token, bound_to=BOUND) == {"after": "r2"}

    for fetched in (rows[:3], rows[:1], []):  # the last page: no token
        page, token = paginate(fetched, 3, lambda r: {"a": r["id"]}, tokens=TOKENS, bound_to=BOUND)
        assert (page, token) == (fetched, "")


def test_the_key_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from rapport.config import ServiceSettings

    monkeypatch.setenv("RAPPORT_PAGE_TOKEN_KEY", "from the environment")
    settings = ServiceSettings()
    assert "from the environment" not in repr(settings)  # a secret: never printed
    token = PageTokens(settings.page_token_key).encode({"a": 1}, bound_to=BOUND)
    assert PageTokens("from the environment").decode(token, bound_to=BOUND) == {"a": 1}
    monkeypatch.delenv("RAPPORT_PAGE_TOKEN_KEY")
    assert ServiceSettings().page_token_key is None
