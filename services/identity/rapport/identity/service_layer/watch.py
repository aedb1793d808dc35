"""WatchChanges: the identity change log streamed from a cursor, woken by local commits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from rapport.errors import InvalidArgument, Unavailable
from rapport.identity.adapters.lifecycle_repository import ChangeRow
from rapport.identity.domain import names
from rapport.identity.domain.model import ChangeKind
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies

_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Change:
    """One entry of WatchChanges: consecutive log rows of one commit, same kind and customer."""

    cursor: int
    kind: ChangeKind
    customer_id: str
    other_customer_ids: tuple[str, ...]
    create_time: datetime


@dataclass(frozen=True)
class ChangeFeed:
    """The changes of one workspace, from the cursor on, until cancelled or the server stops."""

    workspace: str
    changes: AsyncIterator[Change]


async def watch_changes(cmd: commands.WatchChanges, deps: Dependencies) -> ChangeFeed:
    """Validate, then return the feed (streamed as it is iterated)."""
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
    return ChangeFeed(workspace, _follow_changes(deps, workspace, after))


async def _follow_changes(deps: Dependencies, workspace: str, after: int) -> AsyncIterator[Change]:
    notifier = deps.change_notifier
    while not notifier.closed:
        # Taken before reading, so a commit racing with the read still wakes us.
        ticket = notifier.ticket()
        async with deps.uow_factory(readonly=True) as uow:
            rows = await uow.lifecycle.changes_after(workspace, after, deps.watch_batch_size)
        for change in group_changes(rows):
            yield change
            after = change.cursor
        if rows:
            after = rows[-1].seq  # past rows of kinds this version skips
        if len(rows) < deps.watch_batch_size:
            await notifier.wait(ticket, deps.watch_poll_seconds)
    raise Unavailable("SHUTTING_DOWN", "the server is stopping; resume from the last cursor")


def group_changes(rows: Sequence[ChangeRow]) -> list[Change]:
    """Consecutive rows of one commit (same time) with the same kind and customer -> one Change."""
    changes: list[Change] = []
    for row in rows:
        try:
            kind = ChangeKind(row.kind)
        except ValueError:
            continue  # a kind this version does not know: skipped, cursor moves on below
        others = (row.other_customer_id,) if row.other_customer_id else ()
        last = changes[-1] if changes else None
        if (
            last is not None
            and last.kind is kind
            and kind is not ChangeKind.CREATED
            and last.customer_id == row.customer_id
            and last.create_time == row.change_time
            and last.cursor == row.seq - 1
        ):
            changes[-1] = Change(
                row.seq, kind, row.customer_id, last.other_customer_ids + others, row.change_time
            )
        else:
            changes.append(Change(row.seq, kind, row.customer_id, others, row.change_time))
    return changes
