"""The dispatcher: a background component that drains the durable queue (the messages table).

Each message is claimed with a lease (so replicas sharing the database never
work on the same one), then attempted (sending.attempt_delivery), at most
`concurrency` at once so one slow provider call never stalls the rest. After
max_attempts the message is FAILED with RETRIES_EXHAUSTED and stays queryable
(the dead-letter state).

One message never stops the loop or blocks the queue: a message whose stored values
cannot be read fails with STORED_MESSAGE_UNREADABLE, one whose profile cannot be read
with PROFILE_UNREADABLE, a template that does not render with TEMPLATE_ERROR, and an
unexpected error in an attempt is retried with backoff like any transient failure.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from rapport.delivery.domain.model import Message

from .dependencies import Dependencies
from .sending import attempt_delivery, retry_later

_log = logging.getLogger(__name__)


def _error(err: Exception) -> dict[str, str]:
    # The type only: exception texts (SQL parameters, header values) may carry personal data.
    return {"error_reason": type(err).__name__}


class Dispatcher:
    def __init__(
        self,
        deps: Dependencies,
        *,
        concurrency: int = 8,
        poll_seconds: float = 0.5,
        attempt_timeout_seconds: float = 60.0,
        lease_seconds: float = 120.0,
    ) -> None:
        self._deps = deps
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._attempt_timeout = attempt_timeout_seconds
        self._lease = timedelta(seconds=lease_seconds)
        # Set by send_message once a message is committed, and here when a slot frees.
        self._wake = deps.dispatch_wakeup

    async def run(self) -> None:
        """Forever: claim what is due (up to the free slots), then wait for a wake-up or poll."""
        in_flight: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()  # a slot is free: look for more work

        try:
            while True:
                self._wake.clear()
                free = self._concurrency - len(in_flight)
                claimed: list[tuple[Message, str]] = []
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                    except Exception as err:
                        _log.error("claiming due messages failed", extra=_error(err))
                for message, token in claimed:
                    task = asyncio.create_task(self._attempt(message, token))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                if claimed and len(claimed) == free:
                    continue  # maybe more due; a full house waits on `finished` next round
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                except TimeoutError:
                    pass
        finally:
            # Leases of interrupted attempts expire, and the messages are retried then.
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def dispatch_due(self) -> int:
        """Claim and attempt everything due now, once; returns how many were attempted."""
        attempted = 0
        while claimed := await self._claim(self._concurrency):
            await asyncio.gather(*(self._attempt(m, t) for m, t in claimed))
            attempted += len(claimed)
        return attempted

    async def _claim(self, limit: int) -> list[tuple[Message, str]]:
        token = uuid.uuid4().hex
        now = self._deps.clock()
        async with self._deps.uow_factory() as uow:
            messages = await uow.messages.claim_due(
                now=now, limit=limit, lease_token=token, lease_expire_time=now + self._lease
            )
            await uow.commit()
        return [(message, token) for message in messages]

    async def _attempt(self, message: Message, lease_token: str) -> None:
        try:
            async with asyncio.timeout(self._attempt_timeout):
                await attempt_delivery(message, self._deps)
        except TimeoutError:
            self._retry_unless_final(message, "ATTEMPT_TIMEOUT")
        except asyncio.CancelledError:
            # Shutting down: hand the message back now rather than when the lease expires.
            await self._release(message, lease_token)
            raise
        except Exception as err:
            # One message's unexpected failure is that message's alone: it is retried
            # with backoff (and dead-lettered in the end), the others keep flowing.
            _log.error("delivery attempt crashed", extra={"message_id": message.id, **_error(err)})
            self._retry_unless_final(message, "INTERNAL")
        # Once the provider took the message, a shutdown must not lose the record of it.
        recording = asyncio.ensure_future(self._record(message, lease_token))
        try:
            kept = await asyncio.shield(recording)
        except asyncio.CancelledError:
            await recording
            raise
        if not kept:
            return
        outcome = {
            "message_id": message.id,
            "customer": message.customer_id,
            "attempt": message.attempt_count,
            "status": str(message.state),
            "channel": str(message.channel or ""),
        }
        if message.failure_reason:
            outcome["error_reason"] = message.failure_reason
        _log.info("delivery attempt", extra=outcome)

    def _retry_unless_final(self, message: Message, why: str) -> None:
        # A message the attempt already settled (sent, failed...) is recorded as it is.
        if not message.is_final:
            retry_later(message, why, self._deps)

    async def _record(self, message: Message, lease_token: str) -> bool:
        try:
            async with self._deps.uow_factory() as uow:
                kept = await uow.messages.record_attempt(message, lease_token)
                await uow.commit()
        except Exception as err:
            # The lease expires and the message is attempted again (at least once).
            _log.error(
                "recording a delivery attempt failed",
                extra={"message_id": message.id, **_error(err)},
            )
            return False
        if not kept:
            _log.warning("lease lost before recording", extra={"message_id": message.id})
        return kept

    async def _release(self, message: Message, lease_token: str) -> None:
        try:
            async with asyncio.timeout(2):
                async with self._deps.uow_factory() as uow:
                    await uow.messages.record_attempt(message, lease_token)
                    await uow.commit()
        except Exception:
            _log.warning("could not release a lease", extra={"message_id": message.id})
