"""A circuit breaker per provider: stop calling one that keeps failing, try it again later.

Closed: calls go through. After `failure_threshold` consecutive definite failures
it opens: calls are skipped (the next provider of the channel is tried) until
`cooldown` has passed. Then it is half-open: one trial call goes through; success
closes it, failure opens it for another cool-down. Only definite failures count
(the provider was unreachable or answered 5xx): a refusal of one message (an
invalid number) says nothing about the provider's health, and an ambiguous
timeout is neither success nor failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    cooldown: timedelta = timedelta(seconds=30)


@dataclass
class CircuitBreaker:
    policy: BreakerPolicy
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    # In half-open, the one trial call that is out; the others are skipped meanwhile.
    trial_in_flight: bool = False

    def state(self, now: datetime) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now - self.opened_at >= self.policy.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self, now: datetime) -> bool:
        """Whether a call may go through now (claims the trial when half-open)."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def record_failure(self, now: datetime) -> None:
        self.consecutive_failures += 1
        trial_failed = self.trial_in_flight
        self.trial_in_flight = False
        if trial_failed or self.consecutive_failures >= self.policy.failure_threshold:
            self.opened_at = now

    def record_inconclusive(self) -> None:
        """The call ended without a verdict on the provider (ambiguous, or a refusal of
        the message): a half-open trial is given back so another call can try."""
        self.trial_in_flight = False


@dataclass
class CircuitBreakers:
    """One breaker per provider name, made on first use (per process: each replica
    judges the providers from its own calls)."""

    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def __getitem__(self, provider: str) -> CircuitBreaker:
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = self._breakers[provider] = CircuitBreaker(self.policy)
        return breaker
