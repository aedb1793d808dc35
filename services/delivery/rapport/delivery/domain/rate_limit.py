"""A token bucket: at most `rate` calls a second on average, bursts of up to `burst`.

Pure arithmetic over the monotonic seconds it is given; the waiting is the caller's
(service_layer/limits.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens added per second (> 0)
    burst: float  # the most tokens held (>= 1)
    tokens: float = -1.0  # -1: full at the first call
    last: float | None = None

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.burst >= 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float) -> float:
        """Take one token if there is one (returns 0.0), else the seconds until there
        will be one (nothing is taken: ask again then)."""
        if self.last is not None and now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        if self.last is None or now > self.last:
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate
