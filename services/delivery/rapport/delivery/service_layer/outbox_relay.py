"""The outbox relay: a background component that hands what the closed loop wrote to the
outbox to the services it is for, with retries, so nothing is lost while they are down.

- Profile events (`Email Delivered`...) go to profile's IngestEvents, a workspace's
  batch in one call. Profile dedupes on the event's message id, so a batch sent again
  after a lost answer is stored once.
- Consent opt-outs (hard bounces, complaints) go to consent's RecordConsent.

Items are leased while they are sent (replicas sharing the database skip them), removed
once the other service took (or definitely refused) them, and otherwise tried again
after an exponential backoff. They are sent under a lock a customer's erasure takes
too (adapters/outbox_locks.py), so the erasure either removed them first or waits
until they went. One item never stops the others: an item profile rejects is logged
and dropped, an unreadable one too, and a failure is that item's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from rapport.delivery.adapters.profile_events_client import ProfileEvent
from rapport.delivery.adapters.status_history import CONSENT_OPT_OUT, PROFILE_EVENT
from rapport.delivery.adapters.status_repository import OutboxItem
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.domain import names
from rapport.delivery.domain.model import Channel

from .dependencies import Dependencies

_log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 300.0
# An item still refused after this many attempts (about 40 hours at the longest
# backoff) is given up, with an error in the log.
MAX_ATTEMPTS = 500
# After a round that found fewer items than a batch, the next one starts this much later
# (profile events are not urgent; fewer, fuller rounds).
GATHER_SECONDS = 0.05


def backoff(attempts: int, base_seconds: float = 1.0) -> timedelta:
    return timedelta(
        seconds=min(base_seconds * 2.0 ** min(max(attempts - 1, 0), 30), _MAX_BACKOFF_SECONDS)
    )


class OutboxRelay:
    def __init__(
        self,
        deps: Dependencies,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
        lease_seconds: float = 60.0,
        base_backoff_seconds: float = 1.0,
    ) -> None:
        self._deps = deps
        self._poll = poll_seconds
        self._batch = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._base = base_backoff_seconds
        # What the relay did since it started (for logs and tests).
        self.sent = 0
        self.dropped = 0
        self.retried = 0

    async def run(self) -> None:
        wakeup = self._deps.loop.wakeup
        while True:
            try:
                moved = await self.relay_due()
            except Exception as err:
                _log.error("outbox relay round failed", extra={"error_reason": type(err).__name__})
                moved = 0
            if moved >= self._batch:
                continue
            if moved:
                # More is being written: let it gather into the next round's batch.
                await asyncio.sleep(min(self._poll, GATHER_SECONDS))
                continue
            wakeup.clear()
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes
            # as the wake-up is set, and the relay would outlive the server's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await wakeup.wait()

    async def relay_due(self) -> int:
        """One round: claim due items, send them; returns how many were claimed."""
        now = self._deps.clock()
        async with self._deps.uow_factory() as uow:
            items = await uow.status.claim_outbox(
                now=now, limit=self._batch, lease_until=now + self._lease
            )
            await uow.commit()
        if not items:
            return 0
        # Sent under a lock an erasure (EraseCustomerMessages) takes too, over the check
        # of which items are still there, the send and the recording of its outcome: an
        # erasure that deleted a claimed item meanwhile keeps it from being sent, and one
        # that comes during the send waits for it, so no event of an erased customer
        # leaves after the erasure returned (adapters/outbox_locks.py: row locks, or on
        # SQLite a lock in this process, the write lock not held during the send).
        ids = [item.id for item in items]
        async with self._deps.outbox_locks.sending(self._deps.uow_factory, ids) as sending:
            done, retry = await self._send([i for i in items if i.id in sending.present], now)
            async with sending.recording() as uow:
                await uow.status.outbox_done(done)
                for item in retry:
                    if item.attempt_count >= MAX_ATTEMPTS:
                        _log.error(
                            "outbox item given up",
                            extra={"customer": item.customer_id, "attempt": item.attempt_count},
                        )
                        self.dropped += 1
                        await uow.status.outbox_done([item.id])
                        continue
                    await uow.status.outbox_retry(
                        item.id, now + backoff(item.attempt_count, self._base)
                    )
                await uow.commit()
        self.sent += len(done)
        self.retried += len(retry)
        return len(items)

    async def _send(
        self, items: list[OutboxItem], now: datetime
    ) -> tuple[list[str], list[OutboxItem]]:
        """Hand each item to its service: (ids done, items to retry)."""
        done: list[str] = []
        retry: list[OutboxItem] = []
        events: dict[str, list[OutboxItem]] = defaultdict(list)
        for item in items:
            if item.kind == PROFILE_EVENT:
                events[item.workspace].append(item)
            elif item.kind == CONSENT_OPT_OUT:
                if await self._opt_out(item):
                    done.append(item.id)
                else:
                    retry.append(item)
            else:
                # Written by a newer version: left for it (retried after the longest backoff).
                retry.append(item)
        for workspace, batch in events.items():
            sent, failed = await self._profile_events(workspace, batch, now)
            done.extend(sent)
            retry.extend(failed)
        return done, retry

    async def _opt_out(self, item: OutboxItem) -> bool:
        """True once recorded (or unreadable, dropped); False to retry."""
        recorder = self._deps.loop.opt_outs
        payload = item.payload
        try:
            channel = Channel(payload["channel"])
            purpose, source, proof = payload["purpose"], payload["source"], payload["proof"]
            time = datetime.fromisoformat(payload["time"])
        except (KeyError, ValueError, TypeError):
            _log.warning("unreadable opt-out dropped", extra={"customer": item.customer_id})
            self.dropped += 1
            return True
        if recorder is None:
            return False
        try:
            await recorder.record_opt_out(
                names.customer_name(item.workspace, item.customer_id),
                purpose,
                channel,
                source=source,
                proof=proof,
                effective_time=min(time, self._deps.clock()),
            )
        except UpstreamUnavailable as err:
            _log.info("opt-out not recorded yet", extra={"error_reason": err.failure_code})
            return False
        _log.info("opt-out recorded", extra={"customer": item.customer_id, "action": source})
        return True

    async def _profile_events(
        self, workspace: str, items: list[OutboxItem], now: datetime
    ) -> tuple[list[str], list[OutboxItem]]:
        sink = self._deps.loop.profile_events
        readable: list[tuple[OutboxItem, ProfileEvent]] = []
        done: list[str] = []
        for item in items:
            payload = item.payload
            try:
                event = ProfileEvent(
                    message_id=item.id,
                    event=str(payload["event"]),
                    identifiers=tuple((str(k), str(v)) for k, v in payload["identifiers"]),
                    properties=dict(payload["properties"]),
                    time=datetime.fromisoformat(payload["time"]),
                )
            except (KeyError, ValueError, TypeError):
                _log.warning(
                    "unreadable profile event dropped", extra={"customer": item.customer_id}
                )
                self.dropped += 1
                done.append(item.id)
                continue
            readable.append((item, event))
        if not readable:
            return done, []
        if sink is None:
            return done, [item for item, _ in readable]
        try:
            accepted = await sink.ingest(workspace, [event for _, event in readable], now=now)
        except UpstreamUnavailable as err:
            _log.info(
                "profile events not sent yet",
                extra={"error_reason": err.failure_code, "count": len(readable)},
            )
            return done, [item for item, _ in readable]
        except Exception as err:
            # Something in one event this code cannot send: one at a time, so the others
            # go through and the culprit alone is dropped.
            if len(readable) == 1:
                _log.error(
                    "profile event cannot be sent: dropped",
                    extra={
                        "error_reason": type(err).__name__,
                        "customer": readable[0][0].customer_id,
                    },
                )
                self.dropped += 1
                return [*done, readable[0][0].id], []
            retry: list[OutboxItem] = []
            for item, _ in readable:
                sent, failed = await self._profile_events(workspace, [item], now)
                done.extend(sent)
                retry.extend(failed)
            return done, retry
        for (item, _), ok in zip(readable, accepted, strict=True):
            if not ok:
                # Profile refused it for good (e.g. identifiers it does not take).
                _log.warning(
                    "profile rejected a status event", extra={"customer": item.customer_id}
                )
                self.dropped += 1
            done.append(item.id)
        return done, []
