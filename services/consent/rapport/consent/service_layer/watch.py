"""WatchConsentRecords: a workspace's consent ledger streamed from a cursor, woken by
local commits (rapport.commitwatch.follow) and polling for other replicas'.

Ledger positions (seq) are assigned under a per-workspace lock on PostgreSQL
(repository.ledger_lock_key), so a position is never passed while a lower one is
still uncommitted. An entry this version cannot read (a channel or state written by
a newer version) is skipped: logged with its position and counted in the next
response's skipped_record_count, never a reason for the stream to stop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rapport.commitwatch import follow
from rapport.consent.adapters.repository import decode
from rapport.consent.domain import names
from rapport.consent.domain.model import ConsentEntry
from rapport.errors import InvalidArgument
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies

_log = logging.getLogger(__name__)

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(frozen=True, slots=True)
class WatchedEntry:
    entry: ConsentEntry
    cursor: int
    # Entries skipped right before this one (unreadable by this version).
    skipped: int


class _Unreadable(Exception):
    pass


async def watch_consent_records(
    cmd: commands.WatchConsentRecords, deps: Dependencies
) -> AsyncIterator[WatchedEntry]:
    """Validate, then return the stream (until cancelled or the server stops:
    Unavailable SHUTTING_DOWN, resume from the last cursor)."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    after = 0
    if cmd.start_cursor:
        if not _CURSOR.fullmatch(cmd.start_cursor):
            raise InvalidArgument("start_cursor", "is not a cursor returned by WatchConsentRecords")
        after = int(cmd.start_cursor)
        async with deps.uow_factory(readonly=True) as uow:
            if after > await uow.ledger.last_seq():
                raise InvalidArgument(
                    "start_cursor", "is not a cursor returned by WatchConsentRecords"
                )
    return _stream(workspace, after, deps)


async def _stream(workspace: str, after: int, deps: Dependencies) -> AsyncIterator[WatchedEntry]:
    skipped = 0

    async def read_after(cursor: int, limit: int) -> list[Any]:
        async with deps.uow_factory(readonly=True) as uow:
            return await uow.ledger.entries_after(workspace, cursor, limit)

    def convert(row: Any) -> WatchedEntry:
        nonlocal skipped
        entry = decode(row)
        if entry.channel is None or entry.state is None:
            raise _Unreadable("UNKNOWN_CHANNEL" if entry.channel is None else "UNKNOWN_STATE")
        watched = WatchedEntry(entry, int(row.seq), skipped)
        skipped = 0
        return watched

    def undeliverable(row: Any, exc: Exception) -> None:
        nonlocal skipped
        skipped += 1
        _log.warning(
            "consent entry skipped: this version cannot stream it",
            extra={
                "workspace": workspace,
                "cursor": str(getattr(row, "seq", "")),
                "error_reason": str(exc) if isinstance(exc, _Unreadable) else type(exc).__name__,
            },
        )

    async for watched in follow(
        deps.notifier,
        read_after,
        after=after,
        cursor_of=lambda row: int(row.seq),
        convert=convert,
        batch_size=deps.watch_batch_size,
        poll_seconds=deps.watch_poll_seconds,
        on_undeliverable=undeliverable,
    ):
        yield watched
