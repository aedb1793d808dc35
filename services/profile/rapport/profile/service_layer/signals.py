"""WatchSignals: the durable signal log from a cursor, then new signals as they commit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from rapport.commitwatch import CommitNotifier
from rapport.errors import InvalidArgument, Unavailable
from rapport.profile.domain import names
from rapport.profile.domain.model import Signal, SignalKind, StoredEvent, TraitChange
from rapport.profile.domain.signals import event_from_payload, trait_change_from_payload
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class WatchedSignal:
    """One signal of the stream, with its detail decoded."""

    signal: Signal
    # For SignalKind.EVENT_SEEN.
    event: StoredEvent | None = None
    # For SignalKind.TRAIT_CHANGED.
    trait_change: TraitChange | None = None
    # Stored signals skipped since the previous one because they could not be
    # streamed. Always 0 for now: nothing is skipped yet.
    skipped_signal_count: int = 0


async def watch_signals(
    cmd: commands.WatchSignals, deps: Dependencies
) -> AsyncIterator[WatchedSignal]:
    """Validate, then stream signals after the cursor forever (until cancelled or stopped)."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    kinds: list[SignalKind] = []
    for n, kind in enumerate(cmd.kinds):
        if kind is None:
            raise InvalidArgument(f"kinds[{n}]", "must be a known signal kind, not unspecified")
        kinds.append(kind)
    after = 0
    if cmd.start_cursor:
        if not _CURSOR.fullmatch(cmd.start_cursor):
            raise InvalidArgument("start_cursor", "is not a cursor returned by WatchSignals")
        after = int(cmd.start_cursor)
        async with deps.uow(readonly=True) as uow:
            if after > await uow.profiles.last_signal_seq():
                raise InvalidArgument("start_cursor", "is not a cursor returned by WatchSignals")

    async def read_after(seq: int, limit: int) -> list[Signal]:
        async with deps.uow(readonly=True) as uow:
            return await uow.profiles.signals_after(workspace, seq, kinds, limit)

    return _decoded(
        _tail_log(
            read_after, after, deps.notifier, deps.signal_batch_size, deps.signal_poll_seconds
        )
    )


async def _decoded(signals: AsyncIterator[Signal]) -> AsyncIterator[WatchedSignal]:
    async for signal in signals:
        yield _watched(signal)


def _watched(signal: Signal) -> WatchedSignal:
    if signal.kind is SignalKind.EVENT_SEEN:
        event = event_from_payload(signal.payload, signal.workspace, signal.customer_id)
        return WatchedSignal(signal, event=event)
    if signal.kind is SignalKind.TRAIT_CHANGED:
        return WatchedSignal(signal, trait_change=trait_change_from_payload(signal.payload))
    return WatchedSignal(signal)


async def _tail_log(
    read_after: Callable[[int, int], Awaitable[Sequence[Signal]]],
    after: int,
    notifier: CommitNotifier,
    batch_size: int,
    poll_seconds: float,
) -> AsyncIterator[Signal]:
    """Follow a log table after ``after``: read in batches, then wait for a commit
    notification (or poll for other replicas' commits). Ends when the notifier closes.

    The shared runtime is to provide this loop; it stays self-contained until then.
    """
    while not notifier.closed:
        # Taken before reading, so a commit racing with the read still wakes us.
        ticket = notifier.ticket()
        batch = await read_after(after, batch_size)
        for signal in batch:
            yield signal
            after = signal.seq
        if len(batch) < batch_size:
            await notifier.wait(ticket, poll_seconds)
    raise Unavailable("SHUTTING_DOWN", "the server is stopping; resume from the last cursor")
