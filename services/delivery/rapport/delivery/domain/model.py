"""Messages and their life: QUEUED, then SENT, SUPPRESSED or FAILED."""

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
    SENT = "SENT"
    SUPPRESSED = "SUPPRESSED"
    FAILED = "FAILED"


class FailureReason(StrEnum):
    CONSENT_DENIED = "CONSENT_DENIED"
    NO_PROFILE = "NO_PROFILE"
    # The profile service answered with traits that cannot be converted (NaN, nested
    # too deep): a definite answer, retrying would get the same.
    PROFILE_UNREADABLE = "PROFILE_UNREADABLE"
    NO_ADDRESS = "NO_ADDRESS"
    INVALID_ADDRESS = "INVALID_ADDRESS"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
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
    channel: Channel,
    content: MessageContent,
    data: Mapping[str, Any],
    source: str,
) -> str:
    """sha256 of what a message says, canonically serialised (keys sorted, no whitespace).

    The same payload always gives the same fingerprint, whatever the order of
    `data`'s keys. The idempotency key is not part of it: it is what the
    fingerprint is compared under. `data` holds JSON values with finite numbers
    (validation refuses the others).
    """
    payload = {
        "customer": customer,
        "purpose": purpose,
        "channel": channel.value,
        "subject": content.subject,
        "text_body": content.text_body,
        "html_body": content.html_body,
        "data": data,
        "source": source,
    }
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


@dataclass
class Message:
    """A message and its delivery state.

    Read back from storage, ``channel`` and ``state`` are None for a value this version
    does not know (written by a newer one), and ``data`` is None when the stored
    template data cannot be read: such a message can still be shown, never rendered.
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
    ) -> Message:
        fingerprint = payload_fingerprint(
            customer=names.customer_name(workspace, customer_id),
            purpose=purpose,
            channel=channel,
            content=content,
            data=data,
            source=source,
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
        )

    @property
    def name(self) -> str:
        return names.message_name(self.workspace, self.id)

    @property
    def customer(self) -> str:
        return names.customer_name(self.workspace, self.customer_id)

    @property
    def is_final(self) -> bool:
        # A state this version does not know is not one it may change.
        return self.state is not MessageState.QUEUED

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

    def fail(self, reason: FailureReason, now: datetime) -> None:
        self._finish(MessageState.FAILED, reason, now)

    def retry_later(self, policy: RetryPolicy, now: datetime) -> None:
        """After a transient failure: queue again with backoff, or dead-letter (FAILED)."""
        if self.attempt_count >= policy.max_attempts:
            self.fail(FailureReason.RETRIES_EXHAUSTED, now)
            return
        self.update_time = now
        self.next_attempt_time = now + policy.delay(self.attempt_count)

    def _finish(self, state: MessageState, reason: str, now: datetime) -> None:
        if self.is_final:
            raise ValueError(f"message {self.id} is already {self.state}")
        self.state = state
        self.failure_reason = str(reason)
        self.update_time = now
