"""Durable consumers shared by a service's replicas: each message handled once, in order
per partition when asked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ._connection import (
    Backoff,
    NatsBus,
    cancel_requested,
    cancellable,
    raise_if_cancelled,
)
from ._relay import CURSOR_HEADER
from ._subjects import LogSubjects, check_token

_log = logging.getLogger("rapport.eventbus")

_MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"


class PermanentFailure(Exception):
    """Raise from a handler for a message that can never be handled (a payload it
    cannot read, a reference that will never resolve): terminated at once, reported,
    never retried. ``reason`` is short and free of personal data (it is logged)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """One message as the handler sees it."""

    subject: str
    workspace: str
    kind: str
    partition: int
    cursor: int | None  # the record's cursor in the producer's log
    data: bytes
    headers: Mapping[str, str]
    attempt: int  # 1 on the first delivery
    stream_sequence: int


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable consumer, the same in every replica of the consuming service.

    ``durable`` names it (e.g. "decisioning-triggers"); replicas sharing it split the
    messages. ``workspace`` / ``kind`` narrow the filter (one of each, or all).

    Ordering. A stream stores its messages in one total order, so each subject's in
    publish order (the relay publishes in log order). A durable consumer hands them
    out in that order, but with several in flight (``max_ack_pending`` > 1, several
    replicas or workers) they are handled concurrently, and a retried message comes
    back after later ones: no order holds any more. max_ack_pending=1 on one consumer
    keeps the stream's total order, one message at a time for the whole log;
    JetStream's "ordered consumer" is a single unacknowledged reader, not a way for
    replicas to share work. ``ordered=True`` (the default) keeps the log order of
    each partition, so of each customer (see LogSubjects): one durable consumer per
    partition, each with max_ack_pending=1, so a partition's next message is
    delivered only once the previous one is acknowledged or terminated, its retries
    included; up to ``partitions`` messages are handled at once across all replicas.
    The price: a slow or failing message holds its partition back until it succeeds
    or is terminated (at most ``max_deliver`` attempts spaced by ``retry_delays``),
    one handler call at a time per partition, and order is kept within one partition
    count (changing it re-maps customers). ``ordered=False``: one durable consumer,
    ``max_ack_pending`` in flight across replicas, ``concurrency`` handlers at once
    in this replica — faster, for handlers that do not care about order.
    """

    durable: str
    workspace: str | None = None
    kind: str | None = None
    ordered: bool = True
    concurrency: int = 4
    max_ack_pending: int = 256
    ack_wait_seconds: float = 30.0
    max_deliver: int = 5
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    fetch_seconds: float = 5.0
    # Unordered: messages one worker fetches at once (one round trip). They wait their
    # turn in that worker while their ack_wait runs: keep batch x handler time well
    # under ack_wait. Ordered consumers fetch one (one is all they may have).
    fetch_batch: int = 1
    from_start: bool = True  # a new consumer reads the stream's history first

    def __post_init__(self) -> None:
        check_token(self.durable, "durable")
        if min(self.concurrency, self.max_ack_pending, self.max_deliver, self.fetch_batch) < 1:
            raise ValueError(
                "concurrency, max_ack_pending, max_deliver and fetch_batch must be positive"
            )
        if self.ordered and self.fetch_batch != 1:
            raise ValueError("an ordered consumer fetches one message at a time")
        if self.ack_wait_seconds <= 0 or self.fetch_seconds <= 0 or not self.retry_delays:
            raise ValueError("ack_wait_seconds, fetch_seconds and retry_delays are required")


@dataclass(frozen=True)
class Terminated:
    """A message that will not be delivered again, as reported.

    ``delivery`` is None when the handler never saw it: a subject this log does not
    have, or a message the server stopped delivering after ``max_deliver`` attempts
    that never finished (the replicas handling it died).
    """

    reason: str
    stream_sequence: int
    subject: str | None
    delivery: Delivery | None


@dataclass
class ConsumerStats:
    handled: int = 0
    retried: int = 0
    terminated: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


Handler = Callable[[Delivery], Awaitable[None]]


async def _hand_back(messages: list[Msg]) -> None:
    """Messages fetched as the consumer stopped: to another replica now, not after
    ack_wait."""
    for message in messages:
        await message.nak()


class DurableConsumer:
    """Pulls from the durable consumer(s) of ``spec`` and calls ``handler`` per message.

    Success: acknowledged. ``PermanentFailure``: the
    message is terminated and reported. Any other exception is transient: the
    message is nak'ed with a delay from ``retry_delays`` and comes again, until its
    ``max_deliver``-th attempt fails, which terminates and reports it. A message the
    server stops delivering because replicas died handling it ``max_deliver`` times is
    reported too. Reports go to ``on_terminated(Terminated)`` (default: a
    warning with the subject, stream sequence and cursor — never the payload).

    Each message is handled once when handlers succeed; after a crash between the
    handler's effect and the acknowledgement it comes again (at least once), so
    handlers must be idempotent, e.g. by the record's cursor or their own keys.
    """

    def __init__(
        self,
        bus: NatsBus,
        subjects: LogSubjects,
        spec: ConsumerSpec,
        handler: Handler,
        *,
        on_terminated: Callable[[Terminated], None] | None = None,
    ) -> None:
        self._bus = bus
        self._subjects = subjects
        self._spec = spec
        self._handler = handler
        self._on_terminated = on_terminated
        self.stats = ConsumerStats()

    def consumers(self) -> list[tuple[str, ConsumerConfig]]:
        """(name, configuration) of every durable consumer this spec uses."""
        spec = self._spec
        if not spec.ordered:
            return [(spec.durable, self._config(spec.durable, None, spec.max_ack_pending))]
        return [
            (name, self._config(name, partition, 1))
            for partition in range(self._subjects.partitions)
            for name in [f"{spec.durable}-p{partition}"]
        ]

    def _config(self, name: str, partition: int | None, max_ack_pending: int) -> ConsumerConfig:
        spec = self._spec
        return ConsumerConfig(
            durable_name=name,
            filter_subject=self._subjects.filter(
                workspace=spec.workspace, kind=spec.kind, partition=partition
            ),
            deliver_policy=DeliverPolicy.ALL if spec.from_start else DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=spec.ack_wait_seconds,
            max_deliver=spec.max_deliver,
            max_ack_pending=max_ack_pending,
        )

    async def run(self) -> None:
        """Consume until cancelled (a ServiceParts background task). A cancel ends it
        at once, also mid-fetch; messages fetched as it stops go to another replica."""
        workers = 1 if self._spec.ordered else self._spec.concurrency
        # A task group: cancelling run() stops (and waits for) every worker.
        async with asyncio.TaskGroup() as group:
            for name, config in self.consumers():
                for _ in range(workers):
                    group.create_task(self._work(name, config))
                group.create_task(self._report_max_deliveries(name))

    async def _work(self, name: str, config: ConsumerConfig) -> None:
        backoff = Backoff()
        subscription: JetStreamContext.PullSubscription | None = None
        try:
            while True:
                raise_if_cancelled()  # a cancel a handler or nats-py swallowed
                try:
                    if subscription is None:
                        subscription = await self._bind(name, config)
                    try:
                        messages = await self._fetch(subscription)
                    except nats.errors.TimeoutError:
                        continue
                    await self._handle_batch(messages)
                    backoff.reset()
                except Exception as exc:
                    self._log_pause(name, exc)
                    if subscription is not None:  # re-bind: the consumer may be gone
                        with contextlib.suppress(Exception):
                            await subscription.unsubscribe()
                        subscription = None
                    await backoff.wait()
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _bind(self, name: str, config: ConsumerConfig) -> JetStreamContext.PullSubscription:
        # Through cancellable: awaited directly, a cancel landing as nats-py's answer
        # arrives is lost and the worker would never stop (see there).
        js = await cancellable(self._bus.jetstream())
        await cancellable(js.add_consumer(self._subjects.stream, config))
        return await cancellable(js.pull_subscribe_bind(durable=name, stream=self._subjects.stream))

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        # Not through cancellable (a task per fetch: +10 us CPU per message). When
        # nats-py swallows the cancel it is because the answer came: the fetch returns
        # (or raises its 408 as TimeoutError: the loop's head stops) and it is seen here.
        messages = await subscription.fetch(
            self._spec.fetch_batch, timeout=self._spec.fetch_seconds
        )
        if cancel_requested():
            with contextlib.suppress(Exception):
                await _hand_back(messages)
            raise asyncio.CancelledError
        return messages

    async def _handle_batch(self, messages: list[Msg]) -> None:
        for index, message in enumerate(messages):
            try:
                await self._handle(message)
            except asyncio.CancelledError:
                # Stopping: the rest of the batch to another replica now too.
                with contextlib.suppress(Exception):
                    await asyncio.shield(_hand_back(messages[index + 1 :]))
                raise

    async def _handle(self, message: Msg) -> None:
        metadata = message.metadata
        attempt = metadata.num_delivered
        try:
            delivery = self._delivery(message, attempt, metadata.sequence.stream)
        except ValueError:
            await message.term()
            self._terminated(
                Terminated("UNREADABLE_SUBJECT", metadata.sequence.stream, message.subject, None)
            )
            return
        keep_alive = asyncio.create_task(self._keep_alive(message))
        try:
            await self._handler(delivery)
        except asyncio.CancelledError:
            # Stopping: hand the message to another replica now, not after ack_wait.
            with contextlib.suppress(Exception):
                await asyncio.shield(message.nak())
            raise
        except PermanentFailure as exc:
            await message.term()
            self._terminated(self._report(delivery, f"PERMANENT:{exc.reason}"))
        except Exception as exc:
            if attempt >= self._spec.max_deliver:
                await message.term()
                self._terminated(self._report(delivery, f"MAX_DELIVERIES:{type(exc).__name__}"))
            else:
                delays = self._spec.retry_delays
                await message.nak(delay=delays[min(attempt, len(delays)) - 1])
                self.stats.retried += 1
                _log.info(
                    "handler failed; the message comes again",
                    extra={
                        "subject": delivery.subject,
                        "stream_sequence": delivery.stream_sequence,
                        "attempt": attempt,
                        "error_reason": type(exc).__name__,
                    },
                )
        else:
            # Not awaited to the server (ack_sync): a lost ack means a redelivery, as a
            # replica dying between its handler and its ack would; twice the throughput.
            await message.ack()
            self.stats.handled += 1
        finally:
            keep_alive.cancel()

    def _delivery(self, message: Msg, attempt: int, sequence: int) -> Delivery:
        workspace, kind, partition = self._subjects.parse(message.subject)
        headers = dict(message.headers or {})
        cursor = headers.get(CURSOR_HEADER, "")
        return Delivery(
            subject=message.subject,
            workspace=workspace,
            kind=kind,
            partition=partition,
            cursor=int(cursor) if cursor.isdigit() else None,
            data=message.data,
            headers=headers,
            attempt=attempt,
            stream_sequence=sequence,
        )

    async def _keep_alive(self, message: Msg) -> None:
        # A long handler keeps its message: without this it would be redelivered to
        # another replica after ack_wait while still being handled here.
        while True:
            await asyncio.sleep(self._spec.ack_wait_seconds / 3)
            with contextlib.suppress(Exception):
                await message.in_progress()

    async def _report_max_deliveries(self, name: str) -> None:
        """The server's advisory for a message it stopped delivering after max_deliver
        attempts that never ended (the replicas handling it died): reported too."""
        subject = _MAX_DELIVERIES_ADVISORY.format(stream=self._subjects.stream, consumer=name)

        async def advisory(message: Msg) -> None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                sequence = int(json.loads(message.data)["stream_seq"])
                self._terminated(Terminated("MAX_DELIVERIES:UNFINISHED", sequence, None, None))

        backoff = Backoff()
        while True:
            try:
                client = await cancellable(self._bus.client())
                # A queue group: one replica reports each advisory, not all of them.
                subscription = await client.subscribe(subject, queue=name, cb=advisory)
                break
            except Exception as exc:
                self._log_pause(name, exc)
                await backoff.wait()
        try:
            await asyncio.Event().wait()
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    @staticmethod
    def _report(delivery: Delivery, reason: str) -> Terminated:
        return Terminated(reason, delivery.stream_sequence, delivery.subject, delivery)

    def _terminated(self, report: Terminated) -> None:
        self.stats.terminated += 1
        self.stats.by_reason[report.reason] = self.stats.by_reason.get(report.reason, 0) + 1
        if self._on_terminated is not None:
            self._on_terminated(report)
            return
        cursor = report.delivery.cursor if report.delivery else None
        # Where to find it again in the stream; never the payload (personal data).
        _log.warning(
            "message terminated: it will not be delivered again",
            extra={
                "subject": report.subject,
                "stream_sequence": report.stream_sequence,
                "cursor": None if cursor is None else str(cursor),
                "error_reason": report.reason,
            },
        )

    def _log_pause(self, name: str, exc: Exception) -> None:
        waiting = isinstance(exc, NotFoundError)  # the producer has not created the stream yet
        _log.log(
            logging.INFO if waiting else logging.WARNING,
            "consumer paused: it retries" if not waiting else "consumer waits for its stream",
            extra={"consumer": name, "error_reason": type(exc).__name__},
        )
