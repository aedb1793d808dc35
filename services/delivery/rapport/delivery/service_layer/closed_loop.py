"""The closed loop's configuration: unsubscribe and tracking tokens, provider callback
secrets, and where profile events and opt-outs go."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from rapport.delivery.adapters.consent_recorder import ConsentRecorder
from rapport.delivery.adapters.profile_events_client import ProfileEventSink
from rapport.delivery.domain import tracking, unsubscribe
from rapport.delivery.domain.model import Channel

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8055"
DEFAULT_IDENTIFIER_TRAITS: Mapping[str, str] = {
    "user_id": "user_id",
    "email": "email",
    "phone": "phone",
}


@dataclass(frozen=True)
class ClosedLoop:
    """Unsubscribe links, provider callbacks and the events and opt-outs they lead to."""

    # Signs unsubscribe and tracking tokens and keys recipient hashes (the same on
    # every replica).
    secret: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    token_ttl: timedelta = timedelta(days=180)
    # How long a provider event for a message not recorded SENT yet is held for it
    # (early_events.py); past it, the event is dropped.
    early_event_window: timedelta = timedelta(hours=24)
    # Where delivery's HTTP endpoint is reached from outside (links, Twilio callbacks).
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    # Profile trait -> identifier type, for the profile events of status changes.
    identifier_traits: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_IDENTIFIER_TRAITS)
    )
    opt_outs: ConsentRecorder | None = None
    profile_events: ProfileEventSink | None = None
    # SMS provider name -> its auth token (verifies X-Twilio-Signature).
    twilio_tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Provider name -> shared secret of its signed event callbacks.
    event_secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    # Per workspace id ("*": every workspace without its own), open and click tracking
    # of the email delivery sends (none: no tracking).
    email_tracking: Mapping[str, tracking.EmailTracking] = field(default_factory=dict)
    # Set when outbox items were written outside the dispatcher: wakes the relay.
    wakeup: asyncio.Event = field(default_factory=asyncio.Event, compare=False, repr=False)

    # Built once: each derives its key from the secret (every email sent uses both).
    @cached_property
    def tokens(self) -> unsubscribe.UnsubscribeTokens:
        return unsubscribe.UnsubscribeTokens(self.secret, self.token_ttl)

    @cached_property
    def tracking_tokens(self) -> tracking.TrackingTokens:
        return tracking.TrackingTokens(self.secret)

    def tracking_for(self, workspace: str) -> tracking.EmailTracking | None:
        return tracking.tracking_for(self.email_tracking, workspace)

    def recipient_key(self, channel: Channel, address: str) -> str:
        return unsubscribe.recipient_key(self.secret, channel, address)
