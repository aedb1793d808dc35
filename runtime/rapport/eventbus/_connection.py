"""One NATS connection per process, opened on first use and kept up by the client."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from rapport import jsonlogs

_log = logging.getLogger("rapport.eventbus")

# Non-personal by construction: a subject names log, workspace, kind and partition (never
# a customer), a server is host and port (safe_url), the rest are names and counters.
jsonlogs.allow_extra_keys("stream", "stream_sequence", "consumer", "subject", "server")

# The client calls back on every failed (re)connect attempt: one line per outage
# stretch is enough.
_LOG_EVERY_SECONDS = 30.0
_DEFAULT_MAX_PAYLOAD = 1024 * 1024  # nats-server's default
T = TypeVar("T")


def safe_url(url: str) -> str:
    """Host and port only: a URL may carry a user and password or a token."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


class NatsBus:
    """A lazily opened NATS connection shared by the relays and consumers of a process.

    ``await bus.jetstream()`` connects on first use and waits for as long as NATS is
    unreachable (the caller is cancellable), so a service starts even while the bus
    is down. Once connected the client reconnects by itself, forever; publishes made
    while it is disconnected are buffered (up to its pending limit) and requests time
    out, which the relay and consumers treat as an outage to back off from.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        connect_timeout: float = 2.0,
        reconnect_seconds: float = 1.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._name = name
        self._connect_timeout = connect_timeout
        self._reconnect_seconds = reconnect_seconds
        self._request_timeout = request_timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._last_error_log = 0.0
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def max_payload(self) -> int:
        """The server's limit on one message (headers included), once connected."""
        return self._client.max_payload if self._client is not None else _DEFAULT_MAX_PAYLOAD

    async def client(self) -> Client:
        """The connection, opened on first use (waiting for NATS as long as it takes)."""
        async with self._lock:
            if self._client is None or self._client.is_closed:
                self._client = await nats.connect(
                    servers=[self.url],
                    name=self._name,
                    connect_timeout=self._connect_timeout,
                    reconnect_time_wait=self._reconnect_seconds,
                    max_reconnect_attempts=-1,  # also: the first connect waits for NATS
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                self._js = self._client.jetstream(timeout=self._request_timeout)
                self._closing = False
                _log.info("connected to NATS", extra={"server": safe_url(self.url)})
            return self._client

    async def jetstream(self) -> JetStreamContext:
        await self.client()
        assert self._js is not None
        return self._js

    async def close(self) -> None:
        """Close (an on_close hook); the next jetstream() opens a new connection."""
        async with self._lock:
            client, self._client, self._js = self._client, None, None
        if client is None or client.is_closed:
            return
        self._closing = True
        try:
            await client.close()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # nats-py, closed while reconnecting, can surface its transport's cancelled
            # close waiter: the connection is closed all the same.
        except Exception as exc:
            _log.warning(
                "closing the NATS connection failed", extra={"error_reason": type(exc).__name__}
            )

    async def _on_error(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _LOG_EVERY_SECONDS:
            self._last_error_log = now
            _log.warning(
                "NATS connection error",
                extra={"server": safe_url(self.url), "error_reason": type(exc).__name__},
            )

    async def _on_disconnected(self) -> None:
        if not self._closing:
            _log.warning("disconnected from NATS", extra={"server": safe_url(self.url)})

    async def _on_reconnected(self) -> None:
        self._last_error_log = 0.0
        _log.info("reconnected to NATS", extra={"server": safe_url(self.url)})


async def cancellable(call: Awaitable[T]) -> T:
    """``await call`` (a nats-py call) so that cancelling the caller always ends it.

    nats-py waits with ``asyncio.wait_for``, which on Python 3.11 returns the result
    instead of raising when the cancel lands in the loop turn the answer arrives in (a
    request's reply, a fetch's message or its 408 expiry): awaited directly, the
    caller's cancel is lost, and a stopping consumer or relay runs on forever. Here the
    call runs in a task of its own behind a shield, so the cancel raises in the caller
    at once, and the call is cancelled. A task per call: for set-up calls, not per
    message (see DurableConsumer._fetch).
    """
    task = asyncio.ensure_future(_outcome(call))
    try:
        result, error = await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if error is not None:
        raise error
    return result


async def _outcome(call: Awaitable[T]) -> tuple[T | None, Exception | None]:
    # The error as a value: asyncio logs a task that ends with one when nobody awaits
    # it (an abandoned call), at shutdown even when retrieved.
    try:
        return await call, None
    except Exception as exc:
        return None, exc


def cancel_requested() -> bool:
    """Whether the current task was cancelled, also when something below swallowed the
    cancel (nats-py's flush catches CancelledError; a handler may)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_cancelled() -> None:
    """For the head of a loop that runs until cancelled: a swallowed cancel ends it too."""
    if cancel_requested():
        raise asyncio.CancelledError


class Backoff:
    """Exponential pauses with jitter between retries of an outage, reset on success."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    async def wait(self) -> None:
        pause, self._next = self._next, min(self._cap, self._next * 2)
        await asyncio.sleep(random.uniform(pause / 2, pause))
