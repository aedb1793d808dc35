"""Message rows <-> domain Messages: a Message from a stored row, a row from a Message.

Rows are read back leniently: a channel or state this version does not know (written
by a newer one) becomes None, and template data that is not a JSON object becomes
None, each with a warning naming the message; see domain.model.Message. One such row
never makes a read or a claim fail.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any, TypeVar

from rapport.delivery.domain.model import Channel, Message, MessageContent, MessageState, Priority
from rapport.sqlstore import as_utc
from sqlalchemy.engine import RowMapping

from .selection_codec import selection_from_text, selection_to_text
from .status_history import identifiers_from_text, identifiers_to_text

_log = logging.getLogger(__name__)

E = TypeVar("E", bound=StrEnum)


def _unreadable(message_id: str, why: str) -> None:
    # The id and what could not be read, never the stored value (it may be personal).
    _log.warning(
        "stored message holds a value this version cannot read",
        extra={"message_id": message_id, "error_reason": why},
    )


def _enum(kind: type[E], value: str, message_id: str, why: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        _unreadable(message_id, why)
        return None


def stored_data(text: str, message_id: str) -> dict[str, Any] | None:
    """Template data stored as a JSON object; None (with a warning) when it is not one."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        _unreadable(message_id, "UNREADABLE_DATA")
        return None
    return data


def _candidates(text: str, message_id: str) -> tuple[Channel, ...] | None:
    channels = tuple(
        _enum(Channel, name, message_id, "UNKNOWN_CHANNEL") for name in text.split(",")
    )
    if any(channel is None for channel in channels):
        return None
    return channels  # type: ignore[return-value]


def to_message(row: RowMapping) -> Message:
    """The Message of a stored row (read leniently: see the module's docstring)."""
    message_id = row["id"]
    candidates = (
        _candidates(row["candidate_channels"], message_id) if row["candidate_channels"] else ()
    )
    channel = (
        None
        if row["channel"] == "" and candidates
        else _enum(Channel, row["channel"], message_id, "UNKNOWN_CHANNEL")
    )
    selection = selection_from_text(row["channel_selection"], candidates, message_id)
    return Message(
        id=message_id,
        workspace=row["workspace"],
        customer_id=row["customer_id"],
        purpose=row["purpose"],
        channel=channel,
        idempotency_key=row["idempotency_key"],
        payload_fingerprint=row["payload_fingerprint"],
        content=MessageContent(
            subject=row["subject"], text_body=row["text_body"], html_body=row["html_body"]
        ),
        data=stored_data(row["data"], message_id),
        source=row["source"],
        state=_enum(MessageState, row["state"], message_id, "UNKNOWN_STATE"),
        attempt_count=row["attempt_count"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        failure_reason=row["failure_reason"],
        create_time=as_utc(row["create_time"]),  # type: ignore[arg-type]
        update_time=as_utc(row["update_time"]),  # type: ignore[arg-type]
        send_time=as_utc(row["send_time"]),
        next_attempt_time=as_utc(row["next_attempt_time"]),  # type: ignore[arg-type]
        ambiguous_provider=row["ambiguous_provider"],
        template_id=row["template_id"],
        locale=row["locale"],
        failure_detail=row["failure_detail"],
        priority=_enum(Priority, row["priority"], message_id, "UNKNOWN_PRIORITY"),
        selection=selection,
        scheduled_time=as_utc(row["scheduled_time"]),
        schedule_reason=row["schedule_reason"],
        last_error=row["last_error"],
        recipient=row["recipient"],
        recipient_key=row["recipient_key"],
        identifiers=identifiers_from_text(row["identifiers"]),
        delivery_time=as_utc(row["delivery_time"]),
        open_time=as_utc(row["open_time"]),
        click_time=as_utc(row["click_time"]),
        erase_time=as_utc(row["erase_time"]),
        open_count=row["open_count"],
        click_count=row["click_count"],
    )


def outcome_values(message: Message) -> dict[str, Any]:
    """The columns an outcome stores (attempts, replays; a new row's too); "channel" and
    "channel_selection" only once a best channel is chosen."""
    if message.state is None:
        raise ValueError(f"message {message.id} has no state this version can store")
    return {
        "state": message.state.value,
        "attempt_count": message.attempt_count,
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "failure_reason": message.failure_reason,
        "update_time": message.update_time,
        "send_time": message.send_time,
        "next_attempt_time": message.next_attempt_time,
        "ambiguous_provider": message.ambiguous_provider,
        "locale": message.locale,
        "failure_detail": message.failure_detail,
        "scheduled_time": message.scheduled_time,
        "schedule_reason": message.schedule_reason,
        "last_error": message.last_error,
        # Where it went (set when it is prepared for sending; erased with the customer).
        "recipient": message.recipient,
        "recipient_key": message.recipient_key,
        "identifiers": identifiers_to_text(message.identifiers),
        # Set once a best channel is chosen; never unset.
        **({"channel": message.channel.value} if message.channel is not None else {}),
        **(
            {"channel_selection": selection_to_text(message.selection)}
            if message.selection is not None and message.selection.select_time is not None
            else {}
        ),
    }


# Built once (json.dumps with options builds an encoder per call); the same text.
_data_text = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def new_row(message: Message) -> dict[str, Any]:
    """The row of a new message (every column, so that rows insert together)."""
    best_channel = message.selection is not None
    if (message.channel is None) != best_channel or message.data is None:
        raise ValueError(f"message {message.id} is not a complete new message")
    candidates = message.selection.candidate_channels if message.selection else ()
    values: dict[str, Any] = {
        "id": message.id,
        "workspace": message.workspace,
        "customer_id": message.customer_id,
        "purpose": message.purpose,
        "channel": message.channel.value if message.channel is not None else "",
        "candidate_channels": ",".join(c.value for c in candidates),
        "channel_selection": "",
        "template_id": message.template_id,
        "priority": (message.priority or Priority.NORMAL).value,
        "idempotency_key": message.idempotency_key,
        "payload_fingerprint": message.payload_fingerprint,
        "subject": message.content.subject,
        "text_body": message.content.text_body,
        "html_body": message.content.html_body,
        "data": _data_text(message.data),
        "source": message.source,
        "create_time": message.create_time,
        "lease_token": None,
        "lease_expire_time": None,
    }
    values.update(outcome_values(message))
    return values
