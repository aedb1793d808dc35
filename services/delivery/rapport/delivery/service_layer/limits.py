"""Per-provider concurrency and rate limits, so a slow or failing provider never delays
messages of the others.

Each provider has a semaphore (calls in flight at once) and, when a rate is set, a
token bucket (calls a second). A call waits for both before it goes out; the wait
counts against the attempt's time-out like the call itself. The dispatcher also
keeps the messages of one channel from filling every dispatch slot (Dispatcher lanes),
so a provider that hangs holds its own slots only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from rapport.delivery.domain.rate_limit import TokenBucket


@dataclass(frozen=True)
class ProviderLimit:
    # Calls to the provider in flight at once (per replica).
    max_concurrency: int = 16
    # Calls a second (per replica) on average; 0: unlimited.
    rate_per_second: float = 0.0
    # Calls that may go at once after a quiet spell (with a rate).
    burst: int = 1

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not self.rate_per_second >= 0:  # also refuses NaN
            raise ValueError("rate_per_second must be 0 (unlimited) or positive")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")


class Limiter:
    """The limits of one provider in this process."""

    def __init__(self, limit: ProviderLimit, monotonic: Callable[[], float]) -> None:
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit.max_concurrency)
        self._bucket = (
            TokenBucket(limit.rate_per_second, float(limit.burst))
            if limit.rate_per_second > 0
            else None
        )
        self._monotonic = monotonic
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            while self._bucket is not None:
                wait = self._bucket.take(self._monotonic())
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1


@dataclass
class ProviderLimits:
    """One Limiter per provider name (created on first use)."""

    limits: Mapping[str, ProviderLimit] = field(default_factory=dict)
    default: ProviderLimit = field(default_factory=ProviderLimit)
    monotonic: Callable[[], float] = time.monotonic
    _limiters: dict[str, Limiter] = field(default_factory=dict)

    def limit_of(self, provider: str) -> ProviderLimit:
        return self.limits.get(provider, self.default)

    def __getitem__(self, provider: str) -> Limiter:
        limiter = self._limiters.get(provider)
        if limiter is None:
            limiter = self._limiters[provider] = Limiter(self.limit_of(provider), self.monotonic)
        return limiter
