"""Status changes as they are stored: the history rows, and the profile events each
change makes (written to the outbox in the same transaction)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rapport.delivery.domain import status
from rapport.delivery.domain.model import Message, StatusChange
from rapport.sqlstore import insert_if_absent
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .driver_rows import execute_rows
from .tables import message_status_history, messages, outbox

_log = logging.getLogger(__name__)

PROFILE_EVENT = "profile_event"
CONSENT_OPT_OUT = "consent_opt_out"
# Built once (see driver_rows.py).
_INSERT_HISTORY = message_status_history.insert()
_ADD_OUTBOX = insert_if_absent(outbox, "id")
# History reasons are codes; a longer one is cut rather than refused.
_MAX_REASON = 256
# json.dumps with options builds an encoder per call; these are built once (same output).
_compact = json.JSONEncoder(separators=(",", ":")).encode
_compact_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def identifiers_to_text(identifiers: Iterable[tuple[str, str]]) -> str:
    return _compact([[kind, value] for kind, value in identifiers])


def identifiers_from_text(text: str) -> tuple[tuple[str, str], ...]:
    try:
        pairs = json.loads(text)
        return tuple((str(kind), str(value)) for kind, value in pairs)
    except (TypeError, ValueError, RecursionError):
        return ()


def unless_erased(message: Message) -> dict[str, Any]:
    """The message's recipient columns for an UPDATE that leaves them empty when the
    customer was erased meanwhile (EraseCustomerMessages during an attempt)."""
    erased = messages.c.erase_time.is_not(None)
    return {
        "recipient": case((erased, ""), else_=message.recipient),
        "recipient_key": case((erased, ""), else_=message.recipient_key),
        "identifiers": case((erased, "[]"), else_=identifiers_to_text(message.identifiers)),
    }


def _profile_event_rows(message: Message, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for change in message.changes:
        name = status.event_name(message.channel, change.status)
        if name is None:
            continue
        if not message.identifiers:
            # Nothing to attribute it with (the profile was never read, or erased).
            _log.info(
                "status change without identifiers: no profile event",
                extra={"message_id": message.id, "status": change.status},
            )
            continue
        payload = {
            "event": name,
            "identifiers": [list(pair) for pair in message.identifiers],
            "properties": status.event_properties(message, change),
            "time": change.time.isoformat(),
        }
        rows.append(
            {
                "id": status.event_id(message.id, change),
                "kind": PROFILE_EVENT,
                "workspace": message.workspace,
                "customer_id": message.customer_id,
                "payload": _compact_sorted(payload),
                "create_time": now,
                "next_attempt_time": now,
                "attempt_count": 0,
            }
        )
    return rows


async def write_changes(conn: AsyncConnection, message: Message, *, now: datetime) -> None:
    """Store the message's new status changes (history, and the profile events they make),
    in the caller's transaction; then forget them."""
    changes, message.changes = message.changes, []
    if not changes:
        return
    await execute_rows(
        conn,
        _INSERT_HISTORY,
        [
            {
                "message_id": message.id,
                "status": change.status,
                "reason": change.reason[:_MAX_REASON],
                "reporter": change.reporter[:64],
                "change_time": change.time,
            }
            for change in changes
        ],
    )
    message.changes = changes
    rows = _profile_event_rows(message, now)
    message.changes = []
    if rows:
        await add_outbox_rows(conn, rows)


def _history_rows(message: Message, changes: list[StatusChange]) -> list[dict[str, Any]]:
    return [
        {
            "message_id": message.id,
            "status": change.status,
            "reason": change.reason[:_MAX_REASON],
            "reporter": change.reporter[:64],
            "change_time": change.time,
        }
        for change in changes
    ]


async def write_changes_many(
    conn: AsyncConnection, batch: Sequence[Message], *, now: datetime | None = None
) -> None:
    """write_changes for many messages: their history rows in one statement, and the
    profile events they make in one more (`now`: the outbox time; each message's
    update_time when None). A failure leaves every message's changes where they were."""
    history: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for message in batch:
        if not message.changes:
            continue
        history += _history_rows(message, message.changes)
        events += _profile_event_rows(message, now or message.update_time)
    if history:
        await execute_rows(conn, _INSERT_HISTORY, history)
    if events:
        await add_outbox_rows(conn, events)
    for message in batch:
        message.changes = []


async def add_outbox_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert outbox items; one already there (the same change written again) is kept
    as it is. One statement on PostgreSQL and SQLite (ON CONFLICT DO NOTHING)."""
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        await execute_rows(conn, _ADD_OUTBOX[dialect], rows)
        return
    ids = [row["id"] for row in rows]
    existing = set((await conn.execute(select(outbox.c.id).where(outbox.c.id.in_(ids)))).scalars())
    fresh = [row for row in rows if row["id"] not in existing]
    if fresh:
        await conn.execute(outbox.insert(), fresh)
