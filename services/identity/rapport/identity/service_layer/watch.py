"""WatchChanges: the identity change log streamed from a cursor, woken by local commits.

The loop is rapport.commitwatch.follow. Consecutive log entries of one commit with
the same kind and customer are streamed as one Change (``Change.joined``), as long
as its response stays under the size limit (the next response takes the rest).
A stored entry that cannot be streamed (a kind or time this version cannot read,
or a response larger than the limit) is skipped: counted in the next response's
skipped_change_count and logged (workspace, cursor, reason), never silently lost
and never a reason for the stream to stop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rapport.commitwatch import CommitNotifier, follow
from rapport.errors import InvalidArgument
from rapport.identity.adapters.lifecycle_repository import ChangeRow
from rapport.identity.domain import names
from rapport.identity.domain.model import Change, ChangeKind
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import ChangeEncoder, Dependencies

_log = logging.getLogger(__name__)

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


class UndecodableChange(Exception):
    """A stored entry this version cannot read (``reason`` is logged)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChangeTooLarge(Exception):
    """The entry's response would exceed the message limit."""


async def watch_changes(cmd: commands.WatchChanges, deps: Dependencies) -> AsyncIterator[Any]:
    """Validate, then return the stream of encoded responses (ChangeEncoder.response)
    of the workspace's changes after the cursor, until cancelled or the server stops
    (Unavailable SHUTTING_DOWN: resume from the last cursor)."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    after = 0
    if cmd.start_cursor:
        if not _CURSOR.fullmatch(cmd.start_cursor):
            raise InvalidArgument("start_cursor", "is not a cursor returned by WatchChanges")
        after = int(cmd.start_cursor)
        async with deps.uow_factory(readonly=True) as uow:
            if after > await uow.lifecycle.last_change_seq():
                raise InvalidArgument("start_cursor", "is not a cursor returned by WatchChanges")

    async def read_after(seq: int, limit: int) -> list[ChangeRow]:
        async with deps.uow_factory(readonly=True) as uow:
            return await uow.lifecycle.changes_after(workspace, seq, limit)

    return stream_changes(
        deps.change_notifier,
        read_after,
        workspace=workspace,
        after=after,
        encoder=deps.change_encoder,
        max_bytes=deps.watch_max_bytes,
        batch_size=deps.watch_batch_size,
        poll_seconds=deps.watch_poll_seconds,
    )


async def stream_changes(
    notifier: CommitNotifier,
    read_after: Callable[[int, int], Awaitable[Sequence[ChangeRow]]],
    *,
    workspace: str,
    after: int,
    encoder: ChangeEncoder,
    max_bytes: int,
    batch_size: int,
    poll_seconds: float,
) -> AsyncIterator[Any]:
    """The encoded responses of the log entries ``read_after`` returns past ``after``."""
    stream = _ChangeStream(workspace, encoder, max_bytes)
    async for entry in follow(
        notifier,
        read_after,
        after=after,
        cursor_of=lambda row: row.seq,
        convert=stream.convert,
        batch_size=batch_size,
        poll_seconds=poll_seconds,
        coalesce=stream.coalesce,
        on_undeliverable=stream.skip,
    ):
        if entry.encoded is not None:
            yield entry.encoded
        else:
            yield encoder.response(workspace, entry.change, entry.skipped)


def decode_change(row: ChangeRow) -> Change:
    """The stored entry as a Change, or UndecodableChange."""
    try:
        kind = ChangeKind(row.kind)
    except ValueError:
        raise UndecodableChange("UNKNOWN_KIND") from None
    if row.change_time is None:
        raise UndecodableChange("UNREADABLE_TIME")
    others = (row.other_customer_id,) if row.other_customer_id else ()
    return Change(row.seq, kind, row.customer_id, others, row.change_time)


@dataclass(frozen=True)
class _Entry:
    change: Change
    skipped: int  # stored entries skipped right before this one
    size: int  # bytes of its response
    others_size: int  # bytes its other customers take in a response
    encoded: Any = None  # its response, unless joined with later entries


class _ChangeStream:
    """Decodes and measures the entries of one stream; counts the skipped ones."""

    def __init__(self, workspace: str, encoder: ChangeEncoder, max_bytes: int) -> None:
        self._workspace = workspace
        self._encoder = encoder
        self._max_bytes = max_bytes
        self._skipped = 0

    def _encode(self, change: Change) -> tuple[Any, int]:
        encoded = self._encoder.response(self._workspace, change, self._skipped)
        return encoded, self._encoder.size(encoded)

    def convert(self, row: ChangeRow) -> _Entry:
        change = decode_change(row)
        encoded, size = self._encode(change)
        if size > self._max_bytes:
            raise ChangeTooLarge(f"{size} bytes, over {self._max_bytes}")
        others_size = 0
        if change.other_customer_ids:
            others_size = size - self._encode(replace(change, other_customer_ids=()))[1]
        entry = _Entry(change, self._skipped, size, others_size, encoded)
        self._skipped = 0
        return entry

    def coalesce(self, first: _Entry, second: _Entry) -> _Entry | None:
        """One entry for both, or None: ``second`` then starts the next response."""
        joined = first.change.joined(second.change)
        # Within the headroom: a longer message may take a byte more for its length.
        size = first.size + second.others_size
        if joined is None or second.skipped or size > self._max_bytes:
            return None
        return _Entry(joined, first.skipped, size, first.others_size + second.others_size)

    def skip(self, row: ChangeRow, exc: Exception) -> None:
        self._skipped += 1
        if isinstance(exc, ChangeTooLarge):
            reason = "TOO_LARGE"
        elif isinstance(exc, UndecodableChange):
            reason = f"UNDECODABLE:{exc.reason}"
        else:
            reason = f"UNDECODABLE:{type(exc).__name__}"
        # Enough to find the entry in the log; never its content.
        _log.warning(
            "change skipped: it cannot be streamed",
            extra={"workspace": self._workspace, "cursor": str(row.seq), "error_reason": reason},
        )
