"""The closed loop: what providers report after taking a message, and the profile events
and opt-outs each status change leads to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .model import PENDING_STATES, Channel, FailureReason, Message, MessageState, StatusChange

# Who records the changes delivery makes itself (StatusChange.reporter).
DELIVERY = "delivery"


class ProviderEvent(StrEnum):
    DELIVERED = "DELIVERED"
    # A hard bounce: the address never takes messages.
    BOUNCED = "BOUNCED"
    SOFT_BOUNCED = "SOFT_BOUNCED"
    # Not delivered after the provider took it.
    FAILED = "FAILED"
    OPENED = "OPENED"
    CLICKED = "CLICKED"
    COMPLAINED = "COMPLAINED"


class EventOutcome(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"
    UNKNOWN_MESSAGE = "UNKNOWN_MESSAGE"
    NOT_APPLICABLE = "NOT_APPLICABLE"


# States a message is in once a provider took it: only these take provider events.
_TAKEN = frozenset({MessageState.SENT, MessageState.DELIVERED, MessageState.BOUNCED})

# Opt-outs (consent source) that an event leads to.
OPT_OUT_SOURCES = {ProviderEvent.BOUNCED: "bounce", ProviderEvent.COMPLAINED: "complaint"}

# The states whose entry is worth a profile event (the queue's own states are not).
_NOT_EVENTS = frozenset(
    {MessageState.QUEUED.value, MessageState.SCHEDULED.value, MessageState.SENDING.value}
)

_CHANNEL_LABELS = {
    Channel.EMAIL: "Email",
    Channel.SMS: "SMS",
    Channel.PUSH: "Push",
    Channel.WEBHOOK: "Webhook",
    Channel.IN_APP: "In-App Message",
}


@dataclass(frozen=True)
class Applied:
    outcome: EventOutcome
    # Set when the event leads to an opt-out: the consent source ("bounce", "complaint").
    opt_out_source: str = ""


def apply_provider_event(
    message: Message,
    event: ProviderEvent,
    *,
    time: datetime,
    reason: str,
    reporter: str,
    recorded: frozenset[str],
    counted: bool = True,
) -> Applied:
    """Record `event` on `message` (mutated; its change appended to `message.changes`).

    `recorded`: the statuses already in its history. Each kind of event is recorded
    once per message; a message no provider took (or an erased one) takes none. An
    open or a click also adds to its count, a repeated one too (`counted` False: an
    open only implied by a click adds nothing when an open was already recorded).
    """
    if message.state not in _TAKEN or message.erase_time is not None:
        return Applied(EventOutcome.NOT_APPLICABLE)
    repeated = event.value in recorded
    if event is ProviderEvent.OPENED and (counted or not repeated):
        message.open_count += 1
    elif event is ProviderEvent.CLICKED and (counted or not repeated):
        message.click_count += 1
    if repeated:
        return Applied(EventOutcome.DUPLICATE)
    state: MessageState | None = None
    if event is ProviderEvent.DELIVERED:
        message.delivery_time = time
        if message.state is MessageState.SENT:
            state = MessageState.DELIVERED
    elif event is ProviderEvent.BOUNCED:
        state = MessageState.BOUNCED
        message.failure_reason = FailureReason.BOUNCED.value
    elif event is ProviderEvent.FAILED:
        if message.state is not MessageState.BOUNCED:
            state = MessageState.FAILED
            message.failure_reason = FailureReason.PROVIDER_UNDELIVERED.value
    elif event is ProviderEvent.OPENED:
        message.open_time = time
    elif event is ProviderEvent.CLICKED:
        message.click_time = time
    if state is not None:
        message.state = state
        message.failure_detail = reason if state is not MessageState.DELIVERED else ""
    message.update_time = max(message.update_time, time)
    message.changes.append(StatusChange(event.value, time, reason, reporter))
    return Applied(EventOutcome.APPLIED, OPT_OUT_SOURCES.get(event, ""))


@dataclass(frozen=True)
class EarlyEvent:
    """A provider event for a message whose SENT was not recorded yet when it came:
    held, and applied once it is (apply_early_events)."""

    event: ProviderEvent
    time: datetime
    reason: str
    reporter: str
    # When delivery received it (orders events of the same provider time).
    receive_time: datetime
    # The opt-out it leads to was written when it came (the message was known then).
    opted_out: bool = False


def awaits_provider(message: Message) -> bool:
    """Whether a provider may have the message while its SENT is not recorded: an attempt
    is in flight, or an ambiguous one left it queued (events for it are then held)."""
    if message.state not in PENDING_STATES or message.erase_time is not None:
        return False
    return message.state is MessageState.SENDING or bool(message.ambiguous_provider)


def apply_early_events(
    message: Message, events: Sequence[EarlyEvent]
) -> list[tuple[EarlyEvent, Applied]]:
    """Apply events held for `message`, just recorded SENT, in provider time order, as
    if each came now. A provider cannot report on a message before it took it: an event
    timed before the recorded send time is recorded at it (history and profile events
    stay in order)."""
    recorded = frozenset(change.status for change in message.changes)
    results = []
    for early in sorted(events, key=lambda e: (e.time, e.receive_time)):
        time = max(early.time, message.send_time) if message.send_time else early.time
        applied = apply_provider_event(
            message,
            early.event,
            time=time,
            reason=early.reason,
            reporter=early.reporter,
            recorded=recorded,
        )
        if applied.outcome is EventOutcome.APPLIED:
            recorded |= {early.event.value}
        results.append((early, applied))
    return results


def event_name(channel: Channel | None, status: str) -> str | None:
    """The profile event of a status change (`Email Delivered`, `SMS Opened`...); None
    for the queue's own states and messages without a channel."""
    label = _CHANNEL_LABELS.get(channel) if channel is not None else None
    if label is None or status in _NOT_EVENTS:
        return None
    return f"{label} {status.replace('_', ' ').title()}"


def event_id(message_id: str, change: StatusChange) -> str:
    """The profile event's message id: the same for replays of the same change."""
    micros = int(change.time.timestamp() * 1_000_000)
    return f"delivery-{message_id}-{change.status.lower()}-{micros}"


def event_properties(message: Message, change: StatusChange) -> dict[str, Any]:
    """What the profile event says: names and codes, never content or addresses."""
    properties: dict[str, Any] = {
        "message": message.name,
        "channel": message.channel.value if message.channel is not None else "",
        "purpose": message.purpose,
        "status": change.status,
        "provider": message.provider,
    }
    if change.reason:
        properties["reason"] = change.reason
    if message.source:
        properties["source"] = message.source
    if message.template:
        properties["template"] = message.template
    return properties


def identifiers_from(
    traits: dict[str, Any], trait_types: dict[str, str]
) -> tuple[tuple[str, str], ...]:
    """(identifier type, value) of each configured trait the profile holds as a string."""
    found = []
    for trait, kind in trait_types.items():
        value = traits.get(trait)
        if isinstance(value, str) and value.strip():
            found.append((kind, value.strip()))
    return tuple(found)
