"""Recording attempt outcomes: each stored only by the holder of its lease, which it
releases, with its status changes and their profile events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rapport.delivery.domain.model import Message, MessageState
from sqlalchemy import String, bindparam, case, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .driver_rows import execute_rows
from .early_event_repository import MESSAGE_KEY_PREFIX, provider_key
from .message_rows import outcome_values
from .status_history import unless_erased, write_changes, write_changes_many
from .tables import early_provider_events, messages


def _erased_or(column: str) -> Any:
    # Empty when the customer was erased while the attempt ran (see unless_erased).
    return case(
        (messages.c.erase_time.is_not(None), "[]" if column == "identifiers" else ""),
        else_=bindparam(f"b_{column}"),
    )


# The leases of messages whose outcomes are recorded, locked until they are stored.
_LEASES_HELD = (
    select(messages.c.id, messages.c.lease_token)
    .where(messages.c.id.in_(bindparam("l_ids", expanding=True)))
    .with_for_update()
)
# On SQLite (one writer at a time: no callback commits while this transaction runs), the
# same read says whether provider events are held for any of the messages, under their
# ids or the provider ids just recorded: most batches then need no statement more.
_HELD = early_provider_events.c.match_key
_LEASES_AND_HELD_EVENTS = select(
    messages.c.id,
    messages.c.lease_token,
    exists().where(_HELD == literal(MESSAGE_KEY_PREFIX, String) + messages.c.id),
    exists().where(_HELD.in_(bindparam("l_provider_keys", expanding=True))),
).where(messages.c.id.in_(bindparam("l_ids", expanding=True)))

# One outcome (the columns of outcome_values), executed with a row per message: the
# channel and its selection are kept when the row's value is NULL (not chosen yet).
_RECORD_OUTCOME = (
    update(messages)
    .where(messages.c.id == bindparam("b_id"))
    .values(
        lease_token=None,
        lease_expire_time=None,
        **{
            column: bindparam(f"b_{column}")
            for column in (
                "state",
                "attempt_count",
                "provider",
                "provider_message_id",
                "failure_reason",
                "update_time",
                "send_time",
                "next_attempt_time",
                "ambiguous_provider",
                "locale",
                "failure_detail",
                "scheduled_time",
                "schedule_reason",
                "last_error",
            )
        },
        recipient=_erased_or("recipient"),
        recipient_key=_erased_or("recipient_key"),
        identifiers=_erased_or("identifiers"),
        channel=func.coalesce(bindparam("b_channel", type_=String), messages.c.channel),
        channel_selection=func.coalesce(
            bindparam("b_channel_selection", type_=String), messages.c.channel_selection
        ),
    )
)


async def record_attempts(
    conn: AsyncConnection, batch: Sequence[tuple[Message, str]]
) -> tuple[list[bool], bool]:
    """record_attempt for many (message, lease token) pairs in a few statements: the
    leases are read (and locked on PostgreSQL; SQLite's writer holds the database),
    the outcomes of those still held stored with one UPDATE executed for all, and
    their status changes in one statement (plus one for their profile events).
    Per pair: False if the lease was lost; and whether provider events may be held
    for the messages (exact on SQLite; always True on PostgreSQL, where a callback
    that committed while the lease read waited for a row is not seen by that read)."""
    if not batch:
        return [], False
    ids = [m.id for m, _ in batch]
    if conn.dialect.name == "sqlite":
        provider_keys = [
            provider_key(m.provider, m.provider_message_id)
            for m, _ in batch
            if m.state is MessageState.SENT and m.provider_message_id
        ]
        rows = (
            await conn.execute(
                _LEASES_AND_HELD_EVENTS, {"l_ids": ids, "l_provider_keys": provider_keys}
            )
        ).all()
        held = {row[0]: row[1] for row in rows}
        events_held = any(row[2] or row[3] for row in rows)
    else:
        held = dict((await conn.execute(_LEASES_HELD, {"l_ids": ids})).all())
        events_held = True
    kept = [held.get(message.id) == token for message, token in batch]
    mine = [message for (message, _), ok in zip(batch, kept, strict=True) if ok]
    if not mine:
        return kept, False
    rows = []
    for message in mine:
        values = outcome_values(message)
        rows.append(
            {
                "b_id": message.id,
                "b_channel": values.pop("channel", None),
                "b_channel_selection": values.pop("channel_selection", None),
                **{f"b_{column}": value for column, value in values.items()},
            }
        )
    result = await execute_rows(conn, _RECORD_OUTCOME, rows)
    if result is None or result.rowcount not in (len(rows), -1):
        raise RuntimeError("a held lease was not found when recording")
    await write_changes_many(conn, mine)
    return kept, events_held


async def record_attempt(conn: AsyncConnection, message: Message, lease_token: str) -> bool:
    """Store the attempt's outcome and release the lease; False if the lease was lost."""
    result = await conn.execute(
        update(messages)
        .where(messages.c.id == message.id, messages.c.lease_token == lease_token)
        .values(
            lease_token=None,
            lease_expire_time=None,
            # An erasure while the attempt ran keeps the message's addresses erased.
            **{**outcome_values(message), **unless_erased(message)},
        )
    )
    if result.rowcount != 1:
        return False
    await write_changes(conn, message, now=message.update_time)
    return True
