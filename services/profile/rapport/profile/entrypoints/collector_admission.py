"""Which collector requests are taken now: 429 with Retry-After for the others.

Segment answers 429 when a source sends faster than its limit, and its libraries
retry a 429 with backoff (other 4xx are dropped). The collector does the same in two
ways: a write key sending more than its rate (a token bucket holding a second's worth,
so short bursts pass) is told when its next request will be taken, and when too many
requests are already being ingested the new one is refused at once instead of
queueing behind them (their memory and latency stay bounded; the sender retries).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class CollectorAdmission:
    """``admit(write_key)`` -> None (taken: call ``release()`` when done) or the
    seconds after which to retry (a whole number, at least 1, for Retry-After)."""

    def __init__(
        self,
        *,
        max_in_flight: int,
        requests_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if requests_per_second < 0 or not math.isfinite(requests_per_second):
            raise ValueError("requests_per_second must be 0 (no limit) or positive")
        self._max_in_flight = max_in_flight
        self._rate = requests_per_second
        self._capacity = max(1.0, requests_per_second)
        self._clock = clock
        self._in_flight = 0
        # One bucket per write key: keys come from configuration, so this is bounded.
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, write_key: str) -> int | None:
        if self._in_flight >= self._max_in_flight:
            return 1
        if self._rate:
            now = self._clock()
            bucket = self._buckets.get(write_key)
            if bucket is None:
                bucket = self._buckets[write_key] = _Bucket(self._capacity, now)
            # Refilled at the rate, holding at most a second's worth (or one request).
            refill = (now - bucket.updated) * self._rate
            bucket.tokens = min(self._capacity, bucket.tokens + refill)
            bucket.updated = now
            if bucket.tokens < 1:
                return max(1, math.ceil((1 - bucket.tokens) / self._rate))
            bucket.tokens -= 1
        self._in_flight += 1
        return None

    def release(self) -> None:
        self._in_flight -= 1
