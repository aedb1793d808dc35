"""Provider fallback: one message through a channel's ordered providers.

The next provider is tried only after a definite failure of the one before
(unreachable, 5xx, a 4xx refusal): it certainly did not take the message. After
an ambiguous outcome (the request went out, no answer came) the message may be
at that provider, so no other is tried; if the provider honours idempotency
keys it is asked again at once with the same key (a repeat is taken once), and
only an answer that proves it took nothing under that key lets the message move
on. Otherwise the message waits, pinned to that provider
(Message.ambiguous_provider), and later attempts go to it alone.

Providers whose circuit breaker is open are skipped without a call. Consent is
asked right before every provider call, so a fallback made after a slow first
provider still honours an opt-out committed meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from rapport.delivery.adapters.providers import (
    OutgoingMessage,
    Provider,
    ProviderError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUnavailable,
)
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.domain.circuit_breaker import CircuitBreakers

from .limits import ProviderLimits

# Asked before each provider call: may the message go out now? (Raises UpstreamUnavailable.)
ConsentGate = Callable[[], Awaitable[bool]]

# Immediate keyed repeats after an ambiguous outcome, per attempt.
KEYED_REPEATS = 1


@dataclass(frozen=True)
class Taken:
    provider: str
    provider_message_id: str


@dataclass(frozen=True)
class Suppressed:
    """Consent was withdrawn before a provider call."""


@dataclass(frozen=True)
class Refused:
    """Every provider tried refused the message itself."""


@dataclass(frozen=True)
class Deferred:
    """Nothing took the message for sure: try again later (pinned when ambiguous)."""

    reason: str
    ambiguous_provider: str = ""


Outcome = Taken | Suppressed | Refused | Deferred


def _code(err: ProviderError) -> str:
    return f"PROVIDER_{err}".upper().replace(" ", "_")


class Fallback:
    """One attempt of one message through the providers: `await Fallback(...).run()`."""

    def __init__(
        self,
        providers: Sequence[Provider],
        outgoing: OutgoingMessage,
        *,
        ambiguous_provider: str,
        breakers: CircuitBreakers,
        clock: Callable[[], datetime],
        may_send: ConsentGate,
        limits: ProviderLimits | None = None,
    ) -> None:
        self._providers = providers
        self._outgoing = outgoing
        self._breakers = breakers
        self._clock = clock
        self._may_send = may_send
        self._limits = limits
        # The provider that may have the message (from an earlier attempt or this one).
        self.pinned = ambiguous_provider
        # Why the last provider that could take it later did not (unavailable, circuit open).
        self._unavailable = ""
        self._refused = False

    def _candidates(self) -> list[Provider] | None:
        if not self.pinned:
            return list(self._providers)
        pinned = [p for p in self._providers if p.name == self.pinned]
        if not pinned:
            return None
        # The others come after it, reached only once it proves it has nothing.
        return [*pinned, *(p for p in self._providers if p.name != self.pinned)]

    async def run(self) -> Outcome:
        """Send through the first provider that takes it (see the module doc)."""
        candidates = self._candidates()
        if candidates is None:
            # Its configuration was removed: asking another could send the message twice.
            return Deferred("AMBIGUOUS_PROVIDER_NOT_CONFIGURED", self.pinned)
        for provider in candidates:
            outcome = await self._try(provider)
            if outcome is not None:
                return outcome
        if self._unavailable:
            return Deferred(self._unavailable)
        if self._refused:
            return Refused()
        return Deferred("CHANNEL_NOT_CONFIGURED")

    def _slot(self, provider: Provider) -> AbstractAsyncContextManager[None]:
        """The provider's concurrency and rate limits (limits.py); none without them."""
        if self._limits is None:
            return nullcontext()
        return self._limits[provider.name].slot()

    async def _try(self, provider: Provider) -> Outcome | None:
        """An outcome to stop at this provider, None to go on to the next one."""
        breaker = self._breakers[provider.name]
        repeats = KEYED_REPEATS
        while True:
            if not breaker.allow(self._clock()):
                self._unavailable = "PROVIDER_CIRCUIT_OPEN"
                return Deferred(self._unavailable, self.pinned) if self.pinned else None
            try:
                async with self._slot(provider):
                    # Consent is asked once the provider has room, right before the call.
                    try:
                        allowed = await self._may_send()
                    except UpstreamUnavailable as err:
                        breaker.record_inconclusive()
                        return Deferred(err.failure_code, self.pinned)
                    if not allowed:
                        breaker.record_inconclusive()
                        return Suppressed()
                    provider_message_id = await provider.send(self._outgoing)
            except (ProviderUnavailable, ProviderRejectedError) as err:
                if isinstance(err, ProviderUnavailable):
                    breaker.record_failure(self._clock())
                    self._unavailable = _code(err)
                else:
                    breaker.record_inconclusive()
                    self._refused = True
                if self.pinned:
                    if not (provider.honours_idempotency_key and err.proves_not_taken):
                        return Deferred(_code(err), self.pinned)
                    self.pinned = ""  # it has nothing under this key: the others may be asked
                return None
            except ProviderTransientError as err:
                # Ambiguous: the provider may have the message.
                breaker.record_inconclusive()
                self.pinned = provider.name
                if provider.honours_idempotency_key and repeats > 0:
                    repeats -= 1
                    continue
                return Deferred(_code(err), self.pinned)
            breaker.record_success()
            return Taken(provider.name, provider_message_id)
