"""The dispatcher: a background component that drains the durable queue (the messages table).

Each message is claimed with a lease (so replicas sharing the database never
work on the same one), then attempted (sending.attempt_delivery), at most
`concurrency` at once so one slow provider call never stalls the rest. After
max_attempts the message is DEAD_LETTERED (failure_reason RETRIES_EXHAUSTED, with its
last_error) and stays queryable until RetryMessage replays it.

Lanes: the messages of one channel (and best-channel messages, not on a channel yet)
never hold more dispatch slots than that channel's providers may have calls in flight
(limits.py), so a provider that hangs fills its own lane and the other channels keep
their slots; claims ask only for lanes with room.

One message never stops the loop or blocks the queue: a message whose stored values
cannot be read fails with STORED_MESSAGE_UNREADABLE, one whose profile cannot be read
with PROFILE_UNREADABLE, a template that does not render with TEMPLATE_ERROR, and an
unexpected error in an attempt is retried with backoff like any transient failure.
Provider events held for a message until its SENT was recorded are applied in the
transaction that records it (early_events.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from rapport.delivery.domain.model import Channel, Message

from .dependencies import Dependencies
from .early_events import apply_on_sent
from .sending import attempt_delivery, retry_later

_log = logging.getLogger(__name__)

# Attempt outcomes stored in one transaction at most.
RECORD_BATCH = 200


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
        linger_seconds: float = 0.0,
    ) -> None:
        self._deps = deps
        # Under load (attempts in flight), how long a claim or a batch of outcomes waits
        # for more: fewer, larger transactions. An idle dispatcher claims at once.
        self._linger = linger_seconds
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._attempt_timeout = attempt_timeout_seconds
        self._lease = timedelta(seconds=lease_seconds)
        # Outcomes waiting to be stored, and the task storing them (group commit).
        self._to_record: list[tuple[Message, asyncio.Future[bool]]] = []
        self._recorder: asyncio.Future[None] | None = None
        # Messages in flight per lane (a channel's value; "" for a channel not chosen yet).
        self._lanes: dict[str, int] = {}
        # Set by send_message once a message is committed, and here when a slot frees.
        self._wake = deps.dispatch_wakeup

    async def run(self) -> None:
        """Forever: claim what is due (up to the free slots), then wait for a wake-up or poll."""
        in_flight: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()  # a slot is free: look for more work

        # Under load, claims wait for a few free slots rather than claiming each slot as
        # it frees (a claim is a write transaction): a poll, or an idle dispatcher,
        # claims whatever room there is.
        floor = max(1, self._concurrency // 8)
        polled = True
        try:
            while True:
                self._wake.clear()
                free = self._concurrency - len(in_flight)
                claimed: list[Message] = []
                if free > 0 and (free >= floor or polled or not in_flight):
                    if self._linger and in_flight and not polled:
                        # Woken by a new message while busy: let the next few join it.
                        await asyncio.sleep(self._linger)
                        free = self._concurrency - len(in_flight)
                    try:
                        claimed = await self._claim(free)
                    except Exception as err:
                        _log.error("claiming due messages failed", extra=_error(err))
                for message in claimed:
                    task = asyncio.create_task(self._in_lane(message))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                if claimed and len(claimed) == free:
                    polled = False
                    continue  # maybe more due; a full house waits on `finished` next round
                polled = False
                try:
                    # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that
                    # comes as the wake-up is set (a stop as an attempt ends), and the
                    # dispatcher would poll on while the server's stop waits for it.
                    async with asyncio.timeout(self._poll_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    polled = True
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
            await asyncio.gather(*(self._in_lane(m) for m in claimed))
            attempted += len(claimed)
        return attempted

    def lane_capacity(self, lane: str) -> int:
        """Dispatch slots one lane may hold: its providers' concurrency, at most all."""
        if lane == "":
            return max(1, self._concurrency // 2)
        try:
            chain = self._deps.providers.get(Channel(lane), ())
        except ValueError:
            return 1
        total = sum(self._deps.limits.limit_of(p.name).max_concurrency for p in chain)
        return max(1, min(total, self._concurrency))

    def _room(self) -> dict[str, int]:
        lanes = ["", *(channel.value for channel in self._deps.providers)]
        room = {lane: self.lane_capacity(lane) - self._lanes.get(lane, 0) for lane in lanes}
        return {lane: free for lane, free in room.items() if free > 0}

    async def _claim(self, limit: int) -> list[Message]:
        """Due messages leased to this dispatcher (each carries its lease_token)."""
        room = self._room()
        if not room or limit < 1:
            return []
        token = uuid.uuid4().hex
        now = self._deps.clock()
        async with self._deps.uow_factory() as uow:
            messages = await uow.messages.claim_due(
                now=now,
                limit=limit,
                lease_token=token,
                lease_expire_time=now + self._lease,
                lanes=room,
            )
            await uow.commit()
        for message in messages:
            message.lease_token = token
        return messages

    async def _in_lane(self, message: Message) -> None:
        lane = message.channel.value if message.channel is not None else ""
        self._lanes[lane] = self._lanes.get(lane, 0) + 1
        try:
            await self._attempt(message)
        finally:
            self._lanes[lane] -= 1

    async def _attempt(self, message: Message) -> None:
        try:
            async with asyncio.timeout(self._attempt_timeout):
                await attempt_delivery(message, self._deps)
        except TimeoutError:
            self._retry_unless_final(message, "ATTEMPT_TIMEOUT")
        except asyncio.CancelledError:
            # Shutting down: hand the message back now rather than when the lease expires.
            await self._release(message)
            raise
        except Exception as err:
            # One message's unexpected failure is that message's alone: it is retried
            # with backoff (and dead-lettered in the end), the others keep flowing.
            _log.error("delivery attempt crashed", extra={"message_id": message.id, **_error(err)})
            self._retry_unless_final(message, "INTERNAL")
        # Once the provider took the message, a shutdown must not lose the record of it:
        # the outcome is queued for the recorder at once (no task of its own), and a
        # cancelled attempt still waits until it is stored.
        recording = self._record(message)
        try:
            kept = await asyncio.shield(recording)
        except asyncio.CancelledError:
            await recording
            raise
        if not kept:
            _log.warning("lease lost before recording", extra={"message_id": message.id})
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

    def _record(self, message: Message) -> asyncio.Future[bool]:
        """Queue the outcome to be stored (group commit: the outcomes that finish while
        one batch is being written go together in the next transaction); the future
        says whether it was kept (False: the lease was lost)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._to_record.append((message, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.ensure_future(self._record_batches())
        return done

    async def _record_batches(self) -> None:
        while self._to_record:
            if self._linger and len(self._to_record) < RECORD_BATCH:
                # Outcomes finishing a moment apart go in one transaction.
                await asyncio.sleep(self._linger)
            batch = self._to_record[:RECORD_BATCH]
            del self._to_record[:RECORD_BATCH]
            try:
                kept = await self._write(batch)
            except Exception:
                # One outcome that cannot be stored must not lose the others: each alone.
                kept = []
                for one in batch:
                    try:
                        kept += await self._write([one])
                    except Exception as err:
                        # The lease expires and the message is attempted again.
                        _log.error(
                            "recording a delivery attempt failed",
                            extra={"message_id": one[0].id, **_error(err)},
                        )
                        kept.append(False)
            for (_, done), was_kept in zip(batch, kept, strict=True):
                if not done.done():
                    done.set_result(was_kept)

    async def _write(self, batch: list[tuple[Message, asyncio.Future[bool]]]) -> list[bool]:
        # Storing takes each message's pending status changes: a batch that does not
        # commit gives them back, so a retry stores them.
        pending = [list(m.changes) for m, _ in batch]
        try:
            async with self._deps.uow_factory() as uow:
                kept = await uow.messages.record_attempts([(m, m.lease_token) for m, _ in batch])
                opted_out = False
                if uow.messages.early_events_held:
                    # Provider events that came before SENT was recorded: applied with it.
                    ended = [m for (m, _), ok in zip(batch, kept, strict=True) if ok and m.is_final]
                    opted_out = await apply_on_sent(uow, ended, self._deps)
                await uow.commit()
        except BaseException:
            for (message, _), changes in zip(batch, pending, strict=True):
                message.changes = changes
            raise
        if opted_out:
            self._deps.loop.wakeup.set()
        return kept

    async def _release(self, message: Message) -> None:
        message.unclaim()
        try:
            async with asyncio.timeout(2):
                async with self._deps.uow_factory() as uow:
                    await uow.messages.record_attempt(message, message.lease_token)
                    await uow.commit()
        except Exception:
            _log.warning("could not release a lease", extra={"message_id": message.id})
