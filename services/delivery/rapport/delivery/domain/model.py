"""Messages and their life: QUEUED (or SCHEDULED while held), then SENT, SUPPRESSED,
FAILED, CAPPED, DEAD_LETTERED (retries exhausted; replayable) or CANCELLED."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from . import names


class Channel(StrEnum):
    """The channels of the shared contract (rapport.type.v1.Channel)."""

    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"
    WEBHOOK = "WEBHOOK"
    IN_APP = "IN_APP"
    # Shown on the inbound channel that asked: nothing is sent on it, so delivery refuses it.
    INBOUND = "INBOUND"


class MessageState(StrEnum):
    QUEUED = "QUEUED"
    # Held until next_attempt_time (quiet hours, a full frequency-cap window).
    SCHEDULED = "SCHEDULED"
    SENT = "SENT"
    SUPPRESSED = "SUPPRESSED"
    FAILED = "FAILED"
    CAPPED = "CAPPED"
    # Every attempt failed transiently: kept with the last error, replayable (RetryMessage).
    DEAD_LETTERED = "DEAD_LETTERED"
    # Withdrawn before sending (the customer opted out while it waited).
    CANCELLED = "CANCELLED"
    # After SENT, as the provider reported it (ReportProviderEvent, callbacks).
    DELIVERED = "DELIVERED"
    BOUNCED = "BOUNCED"
    # Claimed by a dispatcher (a lease) for an attempt now: preparing it, calling the
    # provider. The attempt moves it on; a dispatcher that stopped leaves it here until
    # the lease expires, and it is claimed again. Not a status-history entry.
    SENDING = "SENDING"


# The states a dispatcher may still work on.
PENDING_STATES = (MessageState.QUEUED, MessageState.SCHEDULED, MessageState.SENDING)


class Priority(StrEnum):
    NORMAL = "NORMAL"
    # Goes out during quiet hours too.
    CRITICAL = "CRITICAL"


class HoldReason(StrEnum):
    QUIET_HOURS = "QUIET_HOURS"
    FREQUENCY_CAP = "FREQUENCY_CAP"


class FailureReason(StrEnum):
    CONSENT_DENIED = "CONSENT_DENIED"
    NO_PROFILE = "NO_PROFILE"
    # The profile service answered with traits that cannot be converted (NaN, nested
    # too deep): a definite answer, retrying would get the same.
    PROFILE_UNREADABLE = "PROFILE_UNREADABLE"
    NO_ADDRESS = "NO_ADDRESS"
    INVALID_ADDRESS = "INVALID_ADDRESS"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    # The SMS's final text (opt-out notice included) takes more segments than allowed.
    SMS_TOO_LONG = "SMS_TOO_LONG"
    # The message names a template that was deleted before it was sent.
    TEMPLATE_NOT_FOUND = "TEMPLATE_NOT_FOUND"
    FREQUENCY_CAPPED = "FREQUENCY_CAPPED"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    # What is stored for the message cannot be read back (e.g. its template data is not
    # a JSON object): it can never be rendered, so it is not attempted.
    STORED_MESSAGE_UNREADABLE = "STORED_MESSAGE_UNREADABLE"
    # Cancelled while queued or held: the customer opted out of its purpose on its channel.
    CONSENT_REVOKED = "CONSENT_REVOKED"
    # Reported by the provider after it took the message: a hard bounce, or not delivered.
    BOUNCED = "BOUNCED"
    PROVIDER_UNDELIVERED = "PROVIDER_UNDELIVERED"
    # Cancelled before sending because the customer's data was erased.
    CUSTOMER_ERASED = "CUSTOMER_ERASED"


@dataclass(frozen=True)
class StatusChange:
    """One entry of a message's status history: a state it entered, or what a provider
    reported without changing the state (SOFT_BOUNCED, OPENED, CLICKED, COMPLAINED)."""

    status: str
    time: datetime
    # Never personal data: a failure reason, a provider's bounce code.
    reason: str = ""
    # `delivery`, or the provider that reported it.
    reporter: str = "delivery"


@dataclass(frozen=True)
class MessageContent:
    subject: str
    text_body: str
    html_body: str = ""


# json.dumps with options builds an encoder per call: built once (the same text).
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def payload_fingerprint(
    *,
    customer: str,
    purpose: str,
    channel: Channel | None,
    content: MessageContent,
    data: Mapping[str, Any],
    source: str,
    template: str = "",
    candidate_channels: tuple[Channel, ...] = (),
    priority: Priority = Priority.NORMAL,
) -> str:
    """sha256 of what a message says, canonically serialised (keys sorted, no whitespace).

    The same payload always gives the same fingerprint, whatever the order of
    `data`'s keys. The idempotency key is not part of it: it is what the
    fingerprint is compared under. `data` holds JSON values with finite numbers
    (validation refuses the others). Fields added after the first version enter
    only when set, so the fingerprints of messages without them never change.
    """
    payload: dict[str, Any] = {
        "customer": customer,
        "purpose": purpose,
        "channel": channel.value if channel is not None else "",
        "subject": content.subject,
        "text_body": content.text_body,
        "html_body": content.html_body,
        "data": data,
        "source": source,
    }
    if template:
        payload["template"] = template
    if candidate_channels:
        payload["candidate_channels"] = [c.value for c in candidate_channels]
    if priority is not Priority.NORMAL:
        payload["priority"] = priority.value
    canonical = _canonical(payload)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: a delay drawn uniformly from
    [0, min(cap, base × 2^(attempt-1))]; dead-lettered after max_attempts."""

    max_attempts: int = 8
    base_seconds: float = 1.0
    max_delay_seconds: float = 300.0

    def ceiling(self, attempt: int) -> timedelta:
        """The longest delay after `attempt` (the exponential backoff before jitter)."""
        # Cap the exponent too, so a huge attempt count cannot overflow the float.
        exponent = min(max(attempt, 1) - 1, 62)
        return timedelta(seconds=min(self.base_seconds * 2.0**exponent, self.max_delay_seconds))

    def delay(self, attempt: int, draw: float = 1.0) -> timedelta:
        """Full jitter: `draw` is uniform in [0, 1] (1.0 gives the ceiling itself)."""
        return self.ceiling(attempt) * min(max(draw, 0.0), 1.0)


@dataclass(frozen=True)
class ChannelEvaluation:
    channel: Channel
    # USABLE, NO_CONSENT, NO_ADDRESS, INVALID_ADDRESS, NO_CONTENT, SMS_TOO_LONG or
    # CAPPED.
    status: str
    preferred: bool
    cost_rank: int


@dataclass(frozen=True)
class ChannelSelection:
    """How a best-channel message's channel was (or is to be) chosen."""

    candidate_channels: tuple[Channel, ...]
    # PREFERRED_CHANNEL or LOWEST_COST once chosen; empty before.
    reason: str = ""
    explanation: str = ""
    evaluations: tuple[ChannelEvaluation, ...] = ()
    select_time: datetime | None = None


@dataclass
class Message:
    """A message and its delivery state.

    Read back from storage, ``channel`` and ``state`` are None for a value this version
    does not know (written by a newer one), and ``data`` is None when the stored
    template data cannot be read: such a message can still be shown, never rendered.
    A best-channel message (``selection`` set) has no channel until one is chosen.
    """

    id: str
    workspace: str
    customer_id: str
    purpose: str
    channel: Channel | None
    idempotency_key: str
    payload_fingerprint: str
    content: MessageContent
    data: dict[str, Any] | None
    source: str
    create_time: datetime
    update_time: datetime
    next_attempt_time: datetime
    state: MessageState | None = MessageState.QUEUED
    attempt_count: int = 0
    provider: str = ""
    provider_message_id: str = ""
    failure_reason: str = ""
    send_time: datetime | None = None
    # The provider that may already have the message (its last answer was ambiguous, e.g.
    # a timeout after the request went out): later attempts go to it alone, so the
    # message never reaches a second provider too. Empty when no provider may have it.
    ambiguous_provider: str = ""
    # The saved template it renders (its id in the workspace); empty for inline content.
    template_id: str = ""
    # The template locale it was rendered in.
    locale: str = ""
    # More about failure_reason, never personal data (e.g. the undefined variable).
    failure_detail: str = ""
    # None for a stored priority this version does not know (treated as normal).
    priority: Priority | None = Priority.NORMAL
    # Set when the sender asked for the best channel.
    selection: ChannelSelection | None = None
    # When the last hold ends (or ended), and why it was held.
    scheduled_time: datetime | None = None
    schedule_reason: str = ""
    # What the last failed attempt met (an error code, never personal data).
    last_error: str = ""
    # Where it was sent (email, E.164 phone, push token, webhook URL, customer name) and
    # a keyed hash of it (finds the customer of an SMS reply); empty before sending and
    # once erased.
    recipient: str = ""
    recipient_key: str = ""
    # Identifiers of the customer ((type, value), from profile traits) that the profile
    # events of its status changes carry.
    identifiers: tuple[tuple[str, str], ...] = ()
    delivery_time: datetime | None = None
    open_time: datetime | None = None
    click_time: datetime | None = None
    erase_time: datetime | None = None
    # Opens and clicks reported, repeats included (open_time, click_time: the first).
    open_count: int = 0
    click_count: int = 0
    # The lease of the dispatcher attempting it (set when claimed): the dispatcher
    # records the attempt under it, and the attempt checks it still holds it before
    # calling a provider (an erasure cancels a claimed message).
    lease_token: str = field(default="", compare=False, repr=False)
    # Its stored status history, oldest first, when it was read for showing.
    history: tuple[StatusChange, ...] = field(default=(), compare=False, repr=False)
    # Status changes not stored yet (the repository writes them with the message).
    changes: list[StatusChange] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def queue(
        cls,
        *,
        id: str,
        workspace: str,
        customer_id: str,
        purpose: str,
        channel: Channel,
        idempotency_key: str,
        content: MessageContent,
        data: dict[str, Any],
        source: str,
        now: datetime,
        template_id: str = "",
        candidate_channels: tuple[Channel, ...] = (),
        priority: Priority = Priority.NORMAL,
    ) -> Message:
        """`channel` is None for a best-channel message (`candidate_channels` then set)."""
        fingerprint = payload_fingerprint(
            customer=names.customer_name(workspace, customer_id),
            purpose=purpose,
            channel=channel,
            content=content,
            data=data,
            source=source,
            template=names.template_name(workspace, template_id) if template_id else "",
            candidate_channels=candidate_channels,
            priority=priority,
        )
        return cls(
            id=id,
            workspace=workspace,
            customer_id=customer_id,
            purpose=purpose,
            channel=channel,
            idempotency_key=idempotency_key,
            payload_fingerprint=fingerprint,
            content=content,
            data=data,
            source=source,
            create_time=now,
            update_time=now,
            next_attempt_time=now,
            template_id=template_id,
            priority=priority,
            selection=ChannelSelection(candidate_channels) if candidate_channels else None,
        )

    @property
    def name(self) -> str:
        return names.message_name(self.workspace, self.id)

    @property
    def template(self) -> str:
        return names.template_name(self.workspace, self.template_id) if self.template_id else ""

    @property
    def awaits_channel_choice(self) -> bool:
        return self.channel is None and self.selection is not None

    @property
    def is_critical(self) -> bool:
        return self.priority is Priority.CRITICAL

    @property
    def customer(self) -> str:
        return names.customer_name(self.workspace, self.customer_id)

    @property
    def is_final(self) -> bool:
        # A state this version does not know is not one it may change.
        return self.state not in PENDING_STATES

    def same_payload(self, other: Message) -> bool:
        """Whether `other` (a new submission of the same key) says the same as this message."""
        return self.payload_fingerprint == other.payload_fingerprint

    def mark_sent(
        self, provider: str, provider_message_id: str, now: datetime, *, why: str = ""
    ) -> None:
        """`why`: its status history's reason, when it went out on something worth
        naming (a transactional purpose with no consent recorded)."""
        self._finish(MessageState.SENT, "", now, note=why)
        self.provider = provider
        self.provider_message_id = provider_message_id
        self.send_time = now
        self.ambiguous_provider = ""

    def suppress(self, reason: FailureReason, now: datetime) -> None:
        self._finish(MessageState.SUPPRESSED, reason, now)

    def fail(self, reason: FailureReason, now: datetime, detail: str = "") -> None:
        self._finish(MessageState.FAILED, reason, now)
        self.failure_detail = detail

    def cap(self, detail: str, now: datetime) -> None:
        """A frequency cap of the customer is reached: not sent."""
        self._finish(MessageState.CAPPED, FailureReason.FREQUENCY_CAPPED, now)
        self.failure_detail = detail

    def hold(self, until: datetime, reason: HoldReason, now: datetime) -> None:
        """Not now: released at `until` (quiet hours, a full frequency-cap window).

        A hold is not a sending attempt: the claim's count is given back, so holds
        never exhaust the retries.
        """
        if self.is_final:
            raise ValueError(f"message {self.id} is already {self.state}")
        self.state = MessageState.SCHEDULED
        self.attempt_count = max(self.attempt_count - 1, 0)
        self.next_attempt_time = until
        self.scheduled_time = until
        self.schedule_reason = reason.value
        self.changes.append(StatusChange(MessageState.SCHEDULED.value, now, reason.value))
        self.update_time = now

    def choose_channel(self, channel: Channel, selection: ChannelSelection) -> None:
        """The best channel, chosen for good: later attempts use it (never a second one)."""
        self.channel = channel
        self.selection = selection

    def retry_later(
        self, policy: RetryPolicy, now: datetime, *, error: str = "", draw: float = 1.0
    ) -> None:
        """After a transient failure (`error`): queue again after a jittered backoff
        (`draw` uniform in [0, 1]), or dead-letter once attempts are exhausted."""
        if error:
            self.last_error = error
        if self.attempt_count >= policy.max_attempts:
            self.dead_letter(now)
            return
        self.state = MessageState.QUEUED
        self.update_time = now
        self.next_attempt_time = now + policy.delay(self.attempt_count, draw)
        self.changes.append(StatusChange(MessageState.QUEUED.value, now, error))

    def unclaim(self) -> None:
        """Handed back before its attempt ended (a shutdown): due again at once."""
        if self.state is MessageState.SENDING:
            self.state = MessageState.QUEUED

    def dead_letter(self, now: datetime) -> None:
        """Attempts exhausted: kept (with last_error) until replayed."""
        self._finish(MessageState.DEAD_LETTERED, FailureReason.RETRIES_EXHAUSTED, now)

    def cancel(self, reason: FailureReason, now: datetime) -> None:
        """Withdrawn before it was sent (only a queued or held message)."""
        self._finish(MessageState.CANCELLED, reason, now)

    def replay(self, now: datetime) -> None:
        """A dead letter queued again with a fresh set of attempts (RetryMessage)."""
        if self.state is not MessageState.DEAD_LETTERED:
            raise ValueError(f"message {self.id} is {self.state}, not dead-lettered")
        self.state = MessageState.QUEUED
        self.attempt_count = 0
        self.failure_reason = ""
        self.failure_detail = ""
        # ambiguous_provider stays: a provider that may have it is still the only one asked.
        self.update_time = now
        self.next_attempt_time = now
        self.changes.append(StatusChange(MessageState.QUEUED.value, now, "REPLAYED"))

    def _finish(self, state: MessageState, reason: str, now: datetime, note: str = "") -> None:
        if self.is_final:
            raise ValueError(f"message {self.id} is already {self.state}")
        self.state = state
        self.failure_reason = str(reason)
        self.update_time = now
        self.changes.append(StatusChange(state.value, now, note or str(reason)))
