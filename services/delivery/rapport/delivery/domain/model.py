"""Messages and their life: QUEUED (or SCHEDULED while held), then SENT, SUPPRESSED,
FAILED or CAPPED."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
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


# The states a dispatcher may still work on.
PENDING_STATES = (MessageState.QUEUED, MessageState.SCHEDULED)


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
    # The message names a template that was deleted before it was sent.
    TEMPLATE_NOT_FOUND = "TEMPLATE_NOT_FOUND"
    FREQUENCY_CAPPED = "FREQUENCY_CAPPED"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    # What is stored for the message cannot be read back (e.g. its template data is not
    # a JSON object): it can never be rendered, so it is not attempted.
    STORED_MESSAGE_UNREADABLE = "STORED_MESSAGE_UNREADABLE"


@dataclass(frozen=True)
class MessageContent:
    subject: str
    text_body: str
    html_body: str = ""


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
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base × 2^(attempt-1), capped; give up after max_attempts."""

    max_attempts: int = 8
    base_seconds: float = 1.0
    max_delay_seconds: float = 300.0

    def delay(self, attempt: int) -> timedelta:
        # Cap the exponent too, so a huge attempt count cannot overflow the float.
        exponent = min(max(attempt, 1) - 1, 62)
        return timedelta(seconds=min(self.base_seconds * 2.0**exponent, self.max_delay_seconds))


@dataclass(frozen=True)
class ChannelEvaluation:
    channel: Channel
    # USABLE, NO_CONSENT, NO_ADDRESS, INVALID_ADDRESS, NO_CONTENT or CAPPED.
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

    def mark_sent(self, provider: str, provider_message_id: str, now: datetime) -> None:
        self._finish(MessageState.SENT, "", now)
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
        self.update_time = now

    def choose_channel(self, channel: Channel, selection: ChannelSelection) -> None:
        """The best channel, chosen for good: later attempts use it (never a second one)."""
        self.channel = channel
        self.selection = selection

    def retry_later(self, policy: RetryPolicy, now: datetime) -> None:
        """After a transient failure: queue again with backoff, or dead-letter (FAILED)."""
        if self.attempt_count >= policy.max_attempts:
            self.fail(FailureReason.RETRIES_EXHAUSTED, now)
            return
        self.state = MessageState.QUEUED
        self.update_time = now
        self.next_attempt_time = now + policy.delay(self.attempt_count)

    def _finish(self, state: MessageState, reason: str, now: datetime) -> None:
        if self.is_final:
            raise ValueError(f"message {self.id} is already {self.state}")
        self.state = state
        self.failure_reason = str(reason)
        self.update_time = now
