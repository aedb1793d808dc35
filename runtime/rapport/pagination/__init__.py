"""AIP-158 pagination: page sizes and opaque page tokens.

A token records where the next page starts and is bound to the request that made it
(parent, filters), so a token replayed with different parameters is refused.

:class:`PageTokens` encrypts and authenticates tokens (Fernet: AES-128-CBC with
HMAC-SHA256), so clients can neither read the position nor forge one. Its key comes
from the ``page_token_key`` setting. Without one, each process makes up a random key:
fine for one process, but replicas behind one address then refuse each other's
tokens, so every replica of a service must be given the same ``page_token_key``.

The typical list handler::

    size = page_size(cmd.page_size)
    position = tokens.decode(cmd.page_token, bound_to=bound_to)  # None: first page
    rows = await repository.list(..., after=position, limit=size + 1)
    page, next_token = paginate(rows, size, position_of, tokens=tokens, bound_to=bound_to)
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from rapport.errors import InvalidArgument

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PageTokens",
    "page_size",
    "paginate",
]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

T = TypeVar("T")

_NOT_A_TOKEN = "is not a token returned by this method"
_OTHER_REQUEST = "belongs to a request with other parameters"
# Binds derived keys to this use: the same setting used elsewhere yields another key.
_HKDF_INFO = b"rapport.pagination.page-token.v1"


def page_size(requested: int, *, field: str = "page_size") -> int:
    """0 means the default; values above the maximum are clamped; negatives are refused."""
    if requested < 0:
        raise InvalidArgument(field, "must not be negative")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def _binding(bound_to: str) -> str:
    return hashlib.sha256(bound_to.encode()).hexdigest()[:16]


@functools.cache
def _process_key() -> bytes:
    # Made on first use, shared by every PageTokens(None) of this process.
    return os.urandom(32)


def _fernet_key(key: bytes | str | SecretStr | None) -> bytes:
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    if key is None:
        material = _process_key()
    else:
        material = key.encode() if isinstance(key, str) else key
        if not material:
            raise ValueError("page_token_key must not be empty")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        material
    )
    return base64.urlsafe_b64encode(derived)


class PageTokens:
    """Encrypts positions into page tokens and back.

    ``key``: any string or bytes (the ``page_token_key`` setting, a SecretStr is
    accepted as is); a Fernet key is derived from it with HKDF-SHA256. None: a
    random key for this process (see the module docstring about replicas).
    """

    def __init__(self, key: bytes | str | SecretStr | None) -> None:
        self._fernet = Fernet(_fernet_key(key))

    def encode(self, position: dict[str, Any], *, bound_to: str) -> str:
        """The token of the page starting at ``position`` (JSON values) of the request
        described by ``bound_to`` (method, parent, filters...)."""
        raw = json.dumps({"p": position, "b": _binding(bound_to)}, separators=(",", ":"))
        return self._fernet.encrypt(raw.encode()).decode().rstrip("=")

    def decode(
        self, token: str, *, bound_to: str, field: str = "page_token"
    ) -> dict[str, Any] | None:
        """The position a token encodes; None for an empty token (the first page).

        InvalidArgument(field) for a token this codec did not make (tampered, foreign,
        another key) or one made for a request with other parameters.
        """
        if not token:
            return None
        try:
            # ASCII first: Fernet lets a non-ASCII str through as ValueError.
            padded = token.encode("ascii") + b"=" * (-len(token) % 4)
            data = json.loads(self._fernet.decrypt(padded))
            position, binding = data["p"], data["b"]
        except (InvalidToken, binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(field, _NOT_A_TOKEN) from exc
        if binding != _binding(bound_to) or not isinstance(position, dict):
            raise InvalidArgument(field, _OTHER_REQUEST)
        return position


def paginate(
    rows: Sequence[T],
    size: int,
    position_of: Callable[[T], dict[str, Any]],
    *,
    tokens: PageTokens,
    bound_to: str,
) -> tuple[list[T], str]:
    """The page and the next page token, from rows fetched with ``limit=size + 1``.

    The extra row only says that there is a next page; the token holds the position
    of the page's last row (``position_of``), so the next query starts after it.
    The token is empty on the last page.
    """
    if len(rows) <= size:
        return list(rows), ""
    page = list(rows[:size])
    if not page:
        raise ValueError("size must be positive")
    return page, tokens.encode(position_of(page[-1]), bound_to=bound_to)
