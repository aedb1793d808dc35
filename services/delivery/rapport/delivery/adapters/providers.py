"""The one interface every channel's provider adapter implements, and how sends fail.

A provider either takes the message (``send`` returns its id for it) or raises:

- ProviderUnavailable: it definitely did not take the message and might later
  (connection refused, 5xx, 429, a misconfigured account). The next provider of the
  channel may be tried at once; the breaker counts it.
- ProviderRejectedError: it definitely refused this message (an invalid number, a
  5xx SMTP reply to the recipient). The next provider may be tried; the breaker
  does not count it (the provider is healthy).
- ProviderOutcomeUnknown: it may have taken the message (a timeout or a dropped
  connection after the request went out). No other provider is tried, or the
  customer could get it twice.

ProviderUnavailable and ProviderOutcomeUnknown are both ProviderTransientError: the
message may pass on a later attempt.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.delivery.domain.model import Channel


class ProviderError(Exception):
    """A send that did not (certainly) go through. The text is a short code, never data."""

    # For a keyed replay after an ambiguous attempt: whether this answer shows the
    # earlier request was not taken either (see http_provider).
    proves_not_taken = False


class ProviderTransientError(ProviderError):
    """The provider could not take the message now; a later attempt may pass."""


class ProviderUnavailable(ProviderTransientError):
    """The provider definitely did not take the message (it was not reached, or answered
    that it could not take it now)."""

    def __init__(self, why: str, *, proves_not_taken: bool = True) -> None:
        super().__init__(why)
        self.proves_not_taken = proves_not_taken


class ProviderOutcomeUnknown(ProviderTransientError):
    """The request went out but no answer came back: the provider may have taken it."""


class ProviderRejectedError(ProviderError):
    """The provider definitely refused this message."""

    def __init__(self, why: str, *, proves_not_taken: bool = True) -> None:
        super().__init__(why)
        self.proves_not_taken = proves_not_taken


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message, addressed, as a provider sends it.

    ``to`` is the channel's address: an email address, an E.164 phone number, a
    push token, the workspace's webhook URL, or the customer's name (in-app).
    """

    to: str
    subject: str
    text_body: str
    html_body: str | None = None
    # Extra email headers, e.g. X-Rapport-Message.
    headers: Mapping[str, str] = field(default_factory=dict)
    channel: Channel = Channel.EMAIL
    # The message's resource name; its id is the idempotency key and the webhook-id.
    message_name: str = ""
    idempotency_key: str = ""
    workspace: str = ""
    customer: str = ""
    purpose: str = ""
    source: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    create_time: datetime | None = None


class Provider(abc.ABC):
    """A provider of one channel. `name` is unique in a deployment (it is recorded on
    the message and keys the provider's circuit breaker)."""

    name: str
    # Whether a repeated request with the same idempotency key is taken only once: then
    # an ambiguous attempt can be settled by asking again.
    honours_idempotency_key: bool = False

    @abc.abstractmethod
    async def send(self, outgoing: OutgoingMessage) -> str:
        """Hand the message over; returns the provider's id for it."""

    async def close(self) -> None:  # noqa: B027 - most providers hold nothing to close
        """Release connections (called once at shutdown)."""
