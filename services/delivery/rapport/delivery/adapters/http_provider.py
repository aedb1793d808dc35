"""What the HTTP provider adapters (SMS, push, webhook) share: one POST through httpx,
and what its outcome means.

Each provider has its own client (its own connection pool and limits), so a slow
or failing provider never holds connections the others need. Redirects are not
followed: a provider that moved is a configuration to fix, not something to
chase with a customer's message.

Outcomes:
- no connection (refused, DNS, TLS handshake, connect timeout, pool full):
  nothing was sent, ProviderUnavailable;
- the request went out and no answer came (read/write timeout, connection
  dropped): ProviderOutcomeUnknown;
- 2xx: taken;
- 401, 403, 404, 407 (the account or endpoint is wrong), 408, 429, 3xx and 5xx:
  ProviderUnavailable;
- 409 from a provider that honours idempotency keys (the same key is still
  being processed): ProviderOutcomeUnknown;
- any other 4xx: ProviderRejectedError (this message is refused).

A 4xx answer other than 408, 409, 425 and 429 to a request carrying the
idempotency key means the provider did not take anything under that key (it
would have answered the first acceptance again): `proves_not_taken`. A 5xx may
come from a gateway in front of the provider, so it proves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .providers import (
    Provider,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejectedError,
    ProviderUnavailable,
)

# Providers answer with a few hundred bytes; a receiver answering more is cut off.
MAX_ANSWER_BYTES = 64 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
_ACCOUNT_PROBLEMS = frozenset({401, 403, 404, 407})
_NOT_SETTLING = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; {} when it is not one."""
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}


def new_client(*, timeout_seconds: float, max_connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
        limits=httpx.Limits(max_connections=max_connections),
        follow_redirects=False,
    )


def classify(answer: HttpAnswer, *, keyed: bool, what: str) -> ProviderError:
    """The error a non-2xx answer means (see the module docstring)."""
    status = answer.status
    why = f"{what} http {status}"
    proves = 400 <= status < 500 and status not in _NOT_SETTLING
    if status == 409 and keyed:
        return ProviderOutcomeUnknown(why)
    if status < 400 or status >= 500 or status in _ACCOUNT_PROBLEMS or status in _NOT_SETTLING:
        return ProviderUnavailable(why, proves_not_taken=proves)
    return ProviderRejectedError(why, proves_not_taken=proves)


class HttpProvider(Provider):
    """Base of the HTTP adapters: `_post` returns a 2xx answer or raises a ProviderError."""

    # Short name used in failure reasons, e.g. "sms".
    kind = "http"

    def __init__(
        self, *, name: str, client: httpx.AsyncClient, honours_idempotency_key: bool
    ) -> None:
        self.name = name
        self.honours_idempotency_key = honours_idempotency_key
        self._client = client

    def refine(self, answer: HttpAnswer, error: ProviderError) -> ProviderError:
        """The provider's own reading of an error answer (its JSON error codes)."""
        return error

    async def _post(
        self,
        url: str,
        *,
        idempotency_key: str = "",
        headers: Mapping[str, str] | None = None,
        **request: Any,
    ) -> HttpAnswer:
        sent_headers = dict(headers or {})
        if idempotency_key:
            sent_headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            async with self._client.stream("POST", url, headers=sent_headers, **request) as reply:
                body = await _read_at_most(reply, MAX_ANSWER_BYTES)
                answer = HttpAnswer(reply.status_code, body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
            raise ProviderUnavailable(
                f"{self.kind} {type(err).__name__}", proves_not_taken=False
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as err:
            raise ProviderUnavailable(
                f"{self.kind} {type(err).__name__}", proves_not_taken=False
            ) from None
        except httpx.HTTPError as err:
            raise ProviderOutcomeUnknown(f"{self.kind} {type(err).__name__}") from None
        if 200 <= answer.status < 300:
            return answer
        error = classify(answer, keyed=bool(idempotency_key), what=self.kind)
        raise self.refine(answer, error)

    async def close(self) -> None:
        await self._client.aclose()


async def _read_at_most(reply: httpx.Response, limit: int) -> bytes:
    """The answer's body up to `limit` bytes; a 2xx whose body breaks off still counts
    as taken (the status line is the provider's word)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in reply.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        if not 200 <= reply.status_code < 300:
            raise
    return b"".join(chunks)[:limit]
