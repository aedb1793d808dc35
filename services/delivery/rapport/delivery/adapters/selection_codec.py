"""A best-channel choice (domain.model.ChannelSelection) as stored: a JSON object.

Read leniently: a stored choice this version cannot read is shown as the bare
candidates, with a warning naming the message (never failing the read).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from rapport.delivery.domain.model import Channel, ChannelEvaluation, ChannelSelection
from rapport.sqlstore import as_utc

_log = logging.getLogger(__name__)


def selection_to_text(selection: ChannelSelection) -> str:
    return json.dumps(
        {
            "reason": selection.reason,
            "explanation": selection.explanation,
            "evaluations": [
                [e.channel.value, e.status, e.preferred, e.cost_rank] for e in selection.evaluations
            ],
            "select_time": selection.select_time.isoformat() if selection.select_time else None,
        },
        separators=(",", ":"),
    )


def selection_from_text(
    text: str, candidates: tuple[Channel, ...] | None, message_id: str
) -> ChannelSelection | None:
    """None for a message whose channel was given (no candidates)."""
    if not candidates:
        return None
    if not text:
        return ChannelSelection(candidates)
    try:
        stored: Any = json.loads(text)
        select_time = stored["select_time"]
        return ChannelSelection(
            candidate_channels=candidates,
            reason=str(stored["reason"]),
            explanation=str(stored["explanation"]),
            evaluations=tuple(
                ChannelEvaluation(Channel(channel), str(status), bool(preferred), int(rank))
                for channel, status, preferred, rank in stored["evaluations"]
            ),
            select_time=as_utc(datetime.fromisoformat(select_time)) if select_time else None,
        )
    except (TypeError, ValueError, KeyError, RecursionError):
        _log.warning(
            "stored message holds a value this version cannot read",
            extra={"message_id": message_id, "error_reason": "UNREADABLE_CHANNEL_SELECTION"},
        )
        return ChannelSelection(candidates)
