"""Whether a message may go out now: quiet hours in the customer's time zone, then
frequency caps (domain/quiet_hours.py, domain/frequency_caps.py).

Quiet hours hold a message that is not critical (SCHEDULED until the window ends).
Caps are cleared on the channels in the order given (a best-channel message passes
over a capped channel to the next usable one); the message is counted on the one
that clears. When none clears, it ends CAPPED, or is held until the window has room
when every cap it hit says `defer`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.delivery.adapters.cap_store import CapStoreUnavailable, Reservation
from rapport.delivery.domain.frequency_caps import CapVerdict
from rapport.delivery.domain.model import Channel, Message

from .dependencies import Dependencies

_log = logging.getLogger(__name__)


def quiet_until(
    message: Message, channel: Channel, traits: dict[str, Any], deps: Dependencies
) -> datetime | None:
    """When a message due now may go, if the customer's quiet hours hold it; else None."""
    if message.is_critical:
        return None
    return deps.policy.quiet_hours.release_time(message.workspace, channel, traits, deps.clock())


@dataclass(frozen=True)
class Cleared:
    """The channel the message is counted on (it may go out there)."""

    channel: Channel
    # The channels passed over because a cap was reached on them.
    capped: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class Capped:
    verdicts: Sequence[CapVerdict] = field(default_factory=tuple)

    @property
    def defer_until(self) -> datetime | None:
        """When every channel's caps defer: the first time one of them has room."""
        times = [v.defer_until for v in self.verdicts]
        if not times or any(t is None for t in times):
            return None
        return min(t for t in times if t is not None)

    def describe(self) -> str:
        return "; ".join(dict.fromkeys(v.describe() for v in self.verdicts))


async def clear_caps(
    message: Message, channels: Sequence[Channel], deps: Dependencies
) -> Cleared | Capped:
    """Raises CapStoreUnavailable when the counts cannot be read (the message waits)."""
    caps = deps.policy.caps
    verdicts: list[CapVerdict] = []
    for channel in channels:
        rules = caps.rules_for(message.workspace, message.purpose, channel)
        if not rules or deps.caps is None:
            return Cleared(channel, tuple(channels[: len(verdicts)]))
        others = [r for r in caps.rules_of(message.workspace, message.purpose) if r not in rules]
        reservation = Reservation(
            message_id=message.id,
            workspace=message.workspace,
            customer_id=message.customer_id,
            purpose=message.purpose,
            channel=channel,
            time=deps.clock(),
        )
        verdict = await deps.caps.reserve(reservation, rules, others)
        if verdict.allowed:
            return Cleared(channel, tuple(channels[: len(verdicts)]))
        verdicts.append(verdict)
    return Capped(verdicts)


async def stop_counting(message: Message, deps: Dependencies) -> None:
    """The message will not go out: it stops counting towards its caps. Best effort: a
    count left behind only makes the caps stricter until the window passes."""
    rules = deps.policy.caps.rules_of(message.workspace, message.purpose)
    if not rules or deps.caps is None:
        return
    try:
        await deps.caps.release(message.id, message.workspace, message.customer_id, rules)
    except CapStoreUnavailable as err:
        _log.warning(
            "could not uncount a message from its caps",
            extra={"message_id": message.id, "error_reason": str(err)},
        )
