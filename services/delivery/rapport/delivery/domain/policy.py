"""The rules of a deployment for when and how messages go out (from its settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from .channel_choice import ChannelRanking
from .frequency_caps import CapPolicy
from .quiet_hours import QuietHoursPolicy
from .sms_length import DEFAULT_MAX_SEGMENTS, MAX_SEGMENTS
from .sms_opt_out import SmsOptOutPolicy

MIN_IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class SendingPolicy:
    caps: CapPolicy = field(default_factory=CapPolicy)
    quiet_hours: QuietHoursPolicy = field(default_factory=lambda: QuietHoursPolicy({}))
    ranking: ChannelRanking = field(default_factory=ChannelRanking)
    # The profile trait holding the customer's locale (e.g. `fr-CA`).
    locale_trait: str = "locale"
    # How long an idempotency key keeps answering with the message it made.
    idempotency_window: timedelta = timedelta(days=7)
    # The opt-out notice marketing SMS carry, per workspace.
    sms_opt_out: SmsOptOutPolicy = field(default_factory=SmsOptOutPolicy)
    # An SMS whose final text (opt-out notice included) takes more segments is not sent.
    max_sms_segments: int = DEFAULT_MAX_SEGMENTS

    def __post_init__(self) -> None:
        if self.idempotency_window < MIN_IDEMPOTENCY_WINDOW:
            raise ValueError("the idempotency window must be at least 24 hours")
        if not 1 <= self.max_sms_segments <= MAX_SEGMENTS:
            raise ValueError(f"the SMS segment limit must be between 1 and {MAX_SEGMENTS}")
