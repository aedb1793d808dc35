"""Profile's signal log relayed to NATS JetStream (rapport.eventbus), when nats_url is
set: every signal of every workspace, in log order, at least once (duplicates dropped
by JetStream), each message a serialized ``rapport.profile.v1.Signal`` on
``<prefix>.profile.signals.<workspace>.<kind>.<partition by customer>``.

A signal that cannot be encoded (undecodable payload) or published (too large) is
skipped, counted and logged with its cursor; it never stops the relay.
"""

from __future__ import annotations

import logging
from typing import Any

from rapport.eventbus import Event, Lease, LogRelay, LogSubjects, NatsBus, RelayPosition, StreamSpec
from rapport.profile.domain.model import SignalRecord
from rapport.profile.domain.signals import decode_signal

from .dependencies import Dependencies

_log = logging.getLogger(__name__)

LOG_NAME = "signals"


def signal_relay(
    deps: Dependencies,
    bus: NatsBus,
    subjects: LogSubjects,
    stream: StreamSpec,
    position: RelayPosition,
    lease: Lease,
    *,
    batch_size: int,
    poll_seconds: float,
) -> LogRelay[SignalRecord]:
    async def read_after(cursor: int, limit: int) -> list[SignalRecord]:
        async with deps.uow(readonly=True) as uow:
            return await uow.signal_log.after(cursor, limit)

    def encode(record: SignalRecord) -> Event:
        response: Any = deps.encoder.watch_response(decode_signal(record))
        return Event(
            record.workspace, record.kind, record.customer_id, response.signal.SerializeToString()
        )

    def unpublishable(record: SignalRecord, exc: Exception) -> None:
        _log.warning(
            "signal not relayed: it cannot be published",
            extra={
                "workspace": record.workspace,
                "cursor": str(record.seq),
                "error_reason": type(exc).__name__,
            },
        )

    return LogRelay(
        bus,
        subjects,
        stream=stream,
        read_after=read_after,
        cursor_of=lambda record: record.seq,
        encode=encode,
        position=position,
        notifier=deps.notifier,
        lease=lease,
        batch_size=batch_size,
        poll_seconds=poll_seconds,
        on_unpublishable=unpublishable,
    )
