"""The relay: a service's durable log, in order, onto its JetStream stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NotFoundError
from rapport.commitwatch import CommitNotifier

from ._connection import Backoff, NatsBus, cancellable, raise_if_cancelled
from ._lease import Lease, SoleLease
from ._positions import RelayPosition
from ._publisher import Publisher
from ._streams import StreamSpec, ensure_stream
from ._subjects import LogSubjects

_log = logging.getLogger("rapport.eventbus")

R = TypeVar("R")

# The record's cursor in its log, for consumers that keep their own high-water mark.
CURSOR_HEADER = "Rapport-Cursor"
MSG_ID_HEADER = "Nats-Msg-Id"
_EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
# JetStream error codes (nats-server's errors.json).
_WRONG_LAST_SEQUENCE = 10071
_MESSAGE_TOO_LARGE = 10054
# Room left under the server's max_payload for the chaining header and the framing.
_HEADROOM = 128


@dataclass(frozen=True)
class Event:
    """What a log record becomes on the bus.

    ``key`` orders: records with the same key (a customer id) go to the same
    partition subject, so a per-partition ordered consumer sees them in log order.
    ``data`` is the payload (the contract's protobuf message, serialized).
    """

    workspace: str
    kind: str
    key: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RelayStats:
    published: int = 0
    duplicates: int = 0  # already in the stream (another relay, or a retried publish)
    skipped: int = 0  # could not be encoded or published: reported, passed over
    resyncs: int = 0  # a publish out of chain: the relay re-read the stream's head
    outages: int = 0  # NATS or the database failed: paused, then retried
    leases_lost: int = 0  # the lease's database session died: stopped, then tried again


class MessageTooLarge(Exception):
    """The encoded record is over the server's payload limit."""


class _OutOfChain(Exception):
    """The stream's last sequence is not the one the relay expected."""


class LogRelay(Generic[R]):
    """Publishes every committed record of a log after the saved position, in cursor
    order, to ``subjects``' stream, then each new one as it commits.

    Each message carries ``Nats-Msg-Id`` = log root + cursor, so a record published
    again (a crash between publish and ``position.save``, a second relay) is dropped
    by the stream within its duplicate window; and ``Nats-Expected-Last-Sequence``,
    chaining every publish on the one before, so the stream never stores records out
    of order, even when an outage loses one message of a pipelined batch while later
    ones get through (those are refused: the relay re-reads the stream's head and
    resumes after the last record it holds; the same re-read at start skips what a
    crash left published but not saved). The stream therefore belongs to this log.

    ``read_after(cursor, limit)``: up to ``limit`` records above ``cursor`` in
    cursor order, across every workspace (a fresh read-only unit of work). As for
    commitwatch.follow, cursor order must be commit order (a record never commits
    below a cursor already read: profile's lock_signal_log, identity's
    lock_change_log), or a late commit below the position would never be relayed.
    ``encode(record)``: the Event, or None for a record not relayed. A record whose
    encoding raises, or that is too large for the server or the stream, is reported
    (``on_unpublishable(record, error)``; default: a warning with its cursor) and
    passed over: it never stops the relay. An outage of NATS or of the database is
    retried with backoff from the last saved position; nothing is skipped for it.

    ``lease`` picks one relay across replicas (see ``PostgresLease``); ``notifier``
    wakes it at once on this process's commits, ``poll_seconds`` finds the others'.
    """

    def __init__(
        self,
        bus: NatsBus,
        subjects: LogSubjects,
        *,
        read_after: Callable[[int, int], Awaitable[Sequence[R]]],
        cursor_of: Callable[[R], int],
        encode: Callable[[R], Event | None],
        position: RelayPosition,
        notifier: CommitNotifier,
        stream: StreamSpec | None = None,
        lease: Lease | None = None,
        batch_size: int = 256,
        poll_seconds: float = 1.0,
        publish_timeout: float = 5.0,
        backoff: Backoff | None = None,
        on_unpublishable: Callable[[R, Exception], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self._bus = bus
        self._subjects = subjects
        self._stream = stream or StreamSpec.for_log(subjects)
        self._read_after = read_after
        self._cursor_of = cursor_of
        self._encode = encode
        self._position = position
        self._notifier = notifier
        self._lease = lease or SoleLease()
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._publish_timeout = publish_timeout
        self._backoff = backoff or Backoff()
        self._on_unpublishable = on_unpublishable
        self.stats = RelayStats()

    async def run(self) -> None:
        """Relay until cancelled or the notifier closes (a ServiceParts background task)."""
        while not self._notifier.closed:
            raise_if_cancelled()
            try:
                async with self._lease.hold() as lost:
                    await self._relay_while_held(lost)
                    if lost.is_set():
                        self.stats.leases_lost += 1
            except Exception as exc:
                self.stats.outages += 1
                _log.warning(
                    "relay paused: it retries from its last position",
                    extra={"stream": self._stream.name, "error_reason": type(exc).__name__},
                )
                await self._backoff.wait()

    async def _relay_while_held(self, lost: asyncio.Event) -> None:
        # nats-py's waits through cancellable: awaited directly, a cancel that lands
        # as the answer arrives is lost (see there).
        js = await cancellable(self._bus.jetstream())
        await cancellable(ensure_stream(js, self._stream))
        publisher = Publisher(await cancellable(self._bus.client()))
        await publisher.start()
        try:
            await self._relay_with(js, publisher, lost)
        finally:
            with contextlib.suppress(Exception):
                await publisher.close()

    async def _relay_with(
        self, js: JetStreamContext, publisher: Publisher, lost: asyncio.Event
    ) -> None:
        position, last_sequence = await self._sync(js, await self._position.load())
        while not lost.is_set() and not self._notifier.closed:
            # Taken before reading, so a commit racing with the read still wakes us.
            ticket = self._notifier.ticket()
            records = await self._read_after(position, self._batch_size)
            if records:
                try:
                    position, last_sequence = await self._publish(
                        publisher, records, position, last_sequence
                    )
                except _OutOfChain:
                    self.stats.resyncs += 1
                    position, last_sequence = await self._sync(js, position)
                self._backoff.reset()
            caught_up = not records or position == self._cursor_of(records[-1])
            if caught_up and len(records) < self._batch_size:
                await self._wait(ticket, lost)

    async def _wait(self, ticket: asyncio.Event, lost: asyncio.Event) -> None:
        """For a commit here, the lease lost, or ``poll_seconds`` (others' commits)."""
        raise_if_cancelled()  # not idle after a cancel a read or publish swallowed
        waits = [asyncio.ensure_future(ticket.wait()), asyncio.ensure_future(lost.wait())]
        try:
            await asyncio.wait(
                waits, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _sync(self, js: JetStreamContext, position: int) -> tuple[int, int]:
        """Position and last sequence from the stream's head: when its newest message is
        a record past the saved position (published, not saved), go on after it."""
        state = (await cancellable(js.stream_info(self._stream.name))).state
        if state.messages:
            with contextlib.suppress(NotFoundError):  # expired or deleted meanwhile
                newest = await cancellable(js.get_msg(self._stream.name, seq=state.last_seq))
                newest_id = (newest.headers or {}).get(MSG_ID_HEADER)
                cursor = self._subjects.cursor_of_message_id(newest_id)
                if cursor is not None and cursor > position:
                    position = cursor
                    await self._position.save(position)
        return position, state.last_seq

    async def _publish(
        self, publisher: Publisher, records: Sequence[R], position: int, last_sequence: int
    ) -> tuple[int, int]:
        """Publish ``records`` pipelined, each chained on the one before; save and
        return (position, last sequence) after the longest prefix the stream took.

        A record the stream refuses as too large is skipped (reported); the rest of
        the batch, refused behind it as out of chain, goes again in the next round.
        Raises _OutOfChain when the stream's head was not the expected one, or the
        outage's error, after saving the prefix.
        """
        sent: list[tuple[int, asyncio.Future[PubAck] | None, R]] = []
        # Reported once settled: a record past a failure is read (and judged) again.
        unpublishable: list[tuple[int, R, Exception]] = []
        expected = last_sequence
        failure: Exception | None = None
        for record in records:
            try:
                message = self._message(record)
            except Exception as exc:
                unpublishable.append((self._cursor_of(record), record, exc))
                message = None
            if message is None:
                sent.append((self._cursor_of(record), None, record))
                continue
            subject, data, headers = message
            headers[_EXPECTED_LAST_SEQUENCE] = str(expected)
            try:
                future = await publisher.publish(subject, data, headers)
            except Exception as exc:  # e.g. the client's reconnect buffer is full
                failure = exc
                break
            sent.append((self._cursor_of(record), future, record))
            expected += 1
        settled = position
        try:
            async with asyncio.timeout(self._publish_timeout):
                for cursor, future, record in sent:
                    if future is not None:
                        try:
                            ack = await future
                        except Exception as exc:
                            if isinstance(exc, APIError) and exc.err_code == _MESSAGE_TOO_LARGE:
                                unpublishable.append((cursor, record, exc))
                                settled = cursor
                            failure = exc
                            break
                        self._count(ack)
                        last_sequence = ack.seq
                    settled = cursor
        except TimeoutError as exc:
            failure = failure or exc
        finally:
            for _, future, _ in sent:
                if future is None:
                    continue
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # judged above, or refused behind a failure: sent again
        for cursor, record, exc in sorted(unpublishable, key=lambda item: item[0]):
            if cursor <= settled:
                self._skip(record, exc)
        if settled != position:
            await self._position.save(settled)
        if isinstance(failure, APIError) and failure.err_code == _WRONG_LAST_SEQUENCE:
            raise _OutOfChain from failure
        if failure is not None and not (
            isinstance(failure, APIError) and failure.err_code == _MESSAGE_TOO_LARGE
        ):
            raise failure
        return settled, last_sequence

    def _message(self, record: R) -> tuple[str, bytes, dict[str, str]] | None:
        event = self._encode(record)
        if event is None:
            return None
        cursor = self._cursor_of(record)
        subject = self._subjects.subject(event.workspace, event.kind, event.key)
        headers = {**event.headers, CURSOR_HEADER: str(cursor)}
        headers[MSG_ID_HEADER] = self._subjects.message_id(cursor)
        size = len(event.data) + len(subject) + sum(len(k) + len(v) + 4 for k, v in headers.items())
        # Checked here so that it is this record's fault, not an outage: the client's
        # publish raises for it much as it does while disconnected.
        if size + _HEADROOM > self._bus.max_payload:
            raise MessageTooLarge(f"{size} bytes, over the server's {self._bus.max_payload}")
        return subject, event.data, headers

    def _count(self, ack: PubAck) -> None:
        if ack.duplicate:
            self.stats.duplicates += 1
        else:
            self.stats.published += 1

    def _skip(self, record: R, exc: Exception) -> None:
        self.stats.skipped += 1
        if self._on_unpublishable is not None:
            try:
                self._on_unpublishable(record, exc)
                return
            except Exception as report_failure:  # the record is skipped all the same
                _log.warning(
                    "on_unpublishable failed",
                    extra={
                        "stream": self._stream.name,
                        "error_reason": type(report_failure).__name__,
                    },
                )
        # The cursor and the error type only: a record may hold personal data.
        _log.warning(
            "relay skipped a record it cannot publish",
            extra={
                "stream": self._stream.name,
                "cursor": str(self._cursor_of(record)),
                "error_reason": type(exc).__name__,
            },
        )
