"""What the HTTP provider adapters (SMS, push, webhook) share: one POST through an
aiohttp session kept per provider, and what its outcome means.

Each provider has its own client (its own connection pool and limits, connections kept
alive between requests), so a slow or failing provider never holds connections the
others need. Redirects are not followed: a provider that moved is a configuration to
fix, not something to chase with a customer's message. Proxies are taken from the
environment (HTTPS_PROXY, NO_PROXY...), as httpx did, read once per provider host.

Outcomes:
- no connection (refused, DNS, TLS handshake, connect timeout, no free connection
  in time): nothing was sent, ProviderUnavailable;
- the request went out and no answer came (read timeout, the whole request's
  timeout, connection dropped): ProviderOutcomeUnknown;
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
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

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


class HttpClient:
    """One provider's HTTP client: an aiohttp session (made on first use, in the running
    loop) with its own pool of kept-alive connections."""

    def __init__(self, *, timeout_seconds: float, max_connections: int) -> None:
        connect = min(timeout_seconds, 5.0)
        # connect: a free connection of the pool and the connection itself; sock_read:
        # each read of the answer; total: the whole request, writing included.
        self._timeout = aiohttp.ClientTimeout(
            total=connect + 2 * timeout_seconds, connect=connect, sock_read=timeout_seconds
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # The environment's proxies, read once (aiohttp's trust_env would read them, and
        # look for a .netrc in a thread, on every request); per (scheme, host), the proxy.
        self._env_proxies = urllib.request.getproxies()
        self._proxies: dict[tuple[str, str], str | None] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
            )
        return self._session

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for `url` (None: straight to it)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxy = self._env_proxies.get(parts.scheme)
            if proxy and parts.hostname and urllib.request.proxy_bypass(parts.hostname):
                proxy = None
            if len(self._proxies) >= 1024:
                self._proxies.clear()
            self._proxies[key] = proxy or None
        return self._proxies[key]

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def new_client(*, timeout_seconds: float, max_connections: int) -> HttpClient:
    return HttpClient(timeout_seconds=timeout_seconds, max_connections=max_connections)


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

    def __init__(self, *, name: str, client: HttpClient, honours_idempotency_key: bool) -> None:
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
        body: bytes,
        headers: Mapping[str, str],
        idempotency_key: str = "",
    ) -> HttpAnswer:
        """POST `body` (already encoded; `headers` give its content-type)."""
        sent_headers = dict(headers)
        if idempotency_key:
            sent_headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            async with self._client.session().post(
                url,
                data=body,
                headers=sent_headers,
                allow_redirects=False,
                proxy=self._client.proxy_for(url),
            ) as reply:
                answer = HttpAnswer(reply.status, await _read_at_most(reply, MAX_ANSWER_BYTES))
        except (
            aiohttp.ClientConnectorError,
            aiohttp.ConnectionTimeoutError,
            aiohttp.NonHttpUrlClientError,
            ValueError,
        ) as err:
            # Nothing was sent: no connection (refused, DNS, TLS, none free in time), or
            # a request that cannot be written (a URL no request can go to: aiohttp's
            # InvalidURL is a ValueError, as a header value it refuses).
            raise ProviderUnavailable(
                f"{self.kind} {type(err).__name__}", proves_not_taken=False
            ) from None
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ProviderOutcomeUnknown(f"{self.kind} {type(err).__name__}") from None
        if 200 <= answer.status < 300:
            return answer
        error = classify(answer, keyed=bool(idempotency_key), what=self.kind)
        raise self.refine(answer, error)

    async def close(self) -> None:
        await self._client.aclose()


async def _read_at_most(reply: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body up to `limit` bytes; a 2xx whose body breaks off still counts
    as taken (the status line is the provider's word)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = await reply.content.read(limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (aiohttp.ClientError, TimeoutError):
        if not 200 <= reply.status < 300:
            raise
    return b"".join(chunks)
