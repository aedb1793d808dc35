"""Pipelined JetStream publishes whose acknowledgements, errors included, come back.

nats-py's ``publish_async`` leaves the future pending forever when the stream answers
with an error (nats-io/nats.py#985: ``APIError.from_error`` raises instead of
returning), and the relay must see those errors: a record too large for the stream,
a publish out of chain. This is the same pipelining on the core client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError

_NO_RESPONDERS = "503"


class Publisher:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._inbox = client.new_inbox()
        self._pending: dict[str, asyncio.Future[PubAck]] = {}
        self._next = 0
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self._client.subscribe(f"{self._inbox}.*", cb=self._on_reply)

    async def publish(
        self, subject: str, data: bytes, headers: Mapping[str, str]
    ) -> asyncio.Future[PubAck]:
        """Send now; the future holds the stream's PubAck or its error (APIError, or
        NoStreamResponseError when no stream listens on ``subject``)."""
        self._next += 1
        token = str(self._next)
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: self._pending.pop(token, None))
        self._pending[token] = future
        try:
            await self._client.publish(
                subject, data, reply=f"{self._inbox}.{token}", headers=dict(headers)
            )
        except BaseException:
            future.cancel()
            raise
        return future

    async def close(self) -> None:
        for future in list(self._pending.values()):
            future.cancel()
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def _on_reply(self, message: Msg) -> None:
        future = self._pending.get(message.subject.rpartition(".")[2])
        if future is None or future.done():
            return  # given up on (timed out), or answered twice
        if message.headers and message.headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        try:
            reply = json.loads(message.data)
            if "error" in reply:
                APIError.from_error(reply["error"])  # raises the error's own class
            future.set_result(PubAck.from_response(reply))
        except Exception as exc:
            future.set_exception(exc)
