"""The erased form of an idempotency key: one-way, keyed, stable, per workspace; and
refused as a key a sender submits."""

from __future__ import annotations

import pytest
from rapport.delivery.domain import validation
from rapport.delivery.domain.erased_keys import ERASED_KEY_PREFIX, ErasedKeys, is_erased_key
from rapport.errors import InvalidArgument

KEY = "receipt-ada@example.com-2026-12"


def test_the_digest_is_stable_and_holds_nothing_of_the_key() -> None:
    keys = ErasedKeys(b"s" * 32)
    digest = keys.digest("default", KEY)
    assert digest == ErasedKeys(b"s" * 32).digest("default", KEY)
    assert digest.startswith(ERASED_KEY_PREFIX) and is_erased_key(digest)
    assert len(digest) == len(ERASED_KEY_PREFIX) + 64 and "ada" not in digest


def test_the_digest_depends_on_the_secret_the_workspace_and_the_key() -> None:
    digest = ErasedKeys(b"s" * 32).digest("default", KEY)
    assert ErasedKeys(b"t" * 32).digest("default", KEY) != digest
    assert ErasedKeys(b"s" * 32).digest("brand", KEY) != digest
    assert ErasedKeys(b"s" * 32).digest("default", KEY + "x") != digest
    # Workspace and key are separated: moving a character across gives another digest.
    assert ErasedKeys(b"s" * 32).digest("defaul", "t" + KEY) != digest


def test_a_key_of_the_erased_form_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validation.validate_idempotency_key(ERASED_KEY_PREFIX + "ab")
    assert caught.value.field == "idempotency_key"
    validation.validate_idempotency_key("erased-but-not-that-form")
