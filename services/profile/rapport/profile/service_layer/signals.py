"""WatchSignals: the durable signal log from a cursor, then new signals as they commit."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from rapport.commitwatch import follow
from rapport.errors import InvalidArgument
from rapport.profile.domain import names
from rapport.profile.domain.model import SignalKind, SignalRecord
from rapport.profile.domain.signals import decode_signal
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies

_log = logging.getLogger(__name__)

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


class SignalTooLarge(Exception):
    """The signal's response would exceed the message limit."""


async def watch_signals(cmd: commands.WatchSignals, deps: Dependencies) -> AsyncIterator[Any]:
    """Validate, then stream the encoded responses of the signals after the cursor
    forever (until cancelled, or the server stops: Unavailable SHUTTING_DOWN).

    A stored signal that cannot be streamed (undecodable, or too large) is skipped:
    counted in the next response's skipped_signal_count and logged for replay.
    """
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
            # Not the newest stored: a reader may have read signals erased since.
            if after > await uow.signal_log.handed_out():
                raise InvalidArgument("start_cursor", "is not a cursor returned by WatchSignals")

    async def read_after(seq: int, limit: int) -> list[SignalRecord]:
        async with deps.uow(readonly=True) as uow:
            return await uow.profiles.signals_after(workspace, seq, kinds, limit)

    stream = _Stream(deps)
    return follow(
        deps.notifier,
        read_after,
        after=after,
        cursor_of=lambda record: record.seq,
        convert=stream.convert,
        batch_size=deps.signal_batch_size,
        poll_seconds=deps.signal_poll_seconds,
        on_undeliverable=stream.skip,
    )


class _Stream:
    """Decodes and encodes records; counts the skipped ones for the next response."""

    def __init__(self, deps: Dependencies) -> None:
        self._encoder = deps.encoder
        self._max_bytes = deps.signal_response_max_bytes
        self._skipped = 0

    def convert(self, record: SignalRecord) -> Any:
        watched = replace(decode_signal(record), skipped_signal_count=self._skipped)
        response = self._encoder.watch_response(watched)
        size = self._encoder.size(response)
        if size > self._max_bytes:
            raise SignalTooLarge(f"{size} bytes, over {self._max_bytes}")
        self._skipped = 0
        return response

    def skip(self, record: SignalRecord, exc: Exception) -> None:
        self._skipped += 1
        reason = "TOO_LARGE" if isinstance(exc, SignalTooLarge) else "UNDECODABLE"
        # Enough to replay the signal from the log; never its payload (personal data).
        _log.warning(
            "signal skipped: it cannot be streamed",
            extra={
                "workspace": record.workspace,
                "cursor": str(record.seq),
                "error_reason": f"{reason}:{type(exc).__name__}",
            },
        )
