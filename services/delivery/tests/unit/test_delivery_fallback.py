"""Provider fallback and circuit breakers, with scripted providers (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from rapport.delivery.adapters.providers import (
    OutgoingMessage,
    Provider,
    ProviderOutcomeUnknown,
    ProviderRejectedError,
    ProviderUnavailable,
)
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.domain.circuit_breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    CircuitBreakers,
)
from rapport.delivery.service_layer.fallback import (
    Deferred,
    Fallback,
    Outcome,
    Refused,
    Suppressed,
    Taken,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OUTGOING = OutgoingMessage(to="+447700900123", subject="", text_body="hi", idempotency_key="m1")


class Scripted(Provider):
    """Answers from a script (an exception to raise or an id to return), then `then`."""

    def __init__(self, name: str, *script: Exception | str, idempotent: bool = False) -> None:
        self.name = name
        self.honours_idempotency_key = idempotent
        self.script = list(script)
        self.keys: list[str] = []

    async def send(self, outgoing: OutgoingMessage) -> str:
        self.keys.append(outgoing.idempotency_key)
        answer = self.script.pop(0) if self.script else f"{self.name}-id"
        if isinstance(answer, Exception):
            raise answer
        return answer


class Gate:
    """Consent answers in order (the last one repeats); counts the questions."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers) or [True]
        self.asked = 0

    async def __call__(self) -> bool:
        self.asked += 1
        answer = self.answers[min(self.asked, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def send(
    providers: Sequence[Provider],
    *,
    pinned: str = "",
    breakers: CircuitBreakers | None = None,
    gate: Gate | None = None,
    now: datetime = NOW,
) -> Outcome:
    return await Fallback(
        providers,
        OUTGOING,
        ambiguous_provider=pinned,
        breakers=breakers if breakers is not None else CircuitBreakers(),
        clock=lambda: now,
        may_send=gate or Gate(),
    ).run()


REFUSED = ProviderUnavailable("sms ConnectError", proves_not_taken=False)


async def test_a_definite_failure_falls_back_to_the_next_provider() -> None:
    primary, backup = Scripted("primary", REFUSED), Scripted("backup")
    gate = Gate()
    assert await send([primary, backup], gate=gate) == Taken("backup", "backup-id")
    assert (primary.keys, backup.keys) == (["m1"], ["m1"])
    assert gate.asked == 2  # consent asked again right before the fallback's call


async def test_a_refusal_falls_back_and_refusals_everywhere_fail() -> None:
    primary = Scripted("primary", ProviderRejectedError("sms http 400"))
    backup = Scripted("backup", ProviderRejectedError("sms http 400"))
    assert await send([primary, backup]) == Refused()
    mixed = [Scripted("a", ProviderRejectedError("x")), Scripted("b", REFUSED)]
    assert await send(mixed) == Deferred("PROVIDER_SMS_CONNECTERROR")  # b may work later


async def test_an_ambiguous_timeout_without_idempotency_never_falls_back() -> None:
    primary = Scripted("smtp", ProviderOutcomeUnknown("SMTPReadTimeoutError"))
    backup = Scripted("backup")
    outcome = await send([primary, backup])
    assert outcome == Deferred("PROVIDER_SMTPREADTIMEOUTERROR", ambiguous_provider="smtp")
    assert backup.keys == []
    # Later attempts go to it alone, whatever it answers.
    again = Scripted("smtp", ProviderUnavailable("smtp connect 421"))
    later = await send([again, backup], pinned="smtp")
    assert later == Deferred("PROVIDER_SMTP_CONNECT_421", ambiguous_provider="smtp")
    assert backup.keys == []
    assert await send([Scripted("smtp"), backup], pinned="smtp") == Taken("smtp", "smtp-id")


async def test_an_ambiguous_timeout_with_idempotency_is_settled_by_asking_again() -> None:
    # The keyed repeat answers: the provider had it (or takes it now), once.
    primary = Scripted("primary", ProviderOutcomeUnknown("sms ReadTimeout"), idempotent=True)
    backup = Scripted("backup")
    assert await send([primary, backup]) == Taken("primary", "primary-id")
    assert primary.keys == ["m1", "m1"] and backup.keys == []


async def test_a_keyed_refusal_after_a_timeout_proves_nothing_was_taken() -> None:
    primary = Scripted(
        "primary",
        ProviderOutcomeUnknown("sms ReadTimeout"),
        ProviderUnavailable("sms http 401", proves_not_taken=True),
        idempotent=True,
    )
    backup = Scripted("backup")
    assert await send([primary, backup]) == Taken("backup", "backup-id")


@pytest.mark.parametrize(
    "second",
    [
        REFUSED,
        ProviderUnavailable("sms http 503", proves_not_taken=False),
        ProviderOutcomeUnknown("sms ReadTimeout"),
    ],
)
async def test_an_answer_that_proves_nothing_keeps_the_message_pinned(second: Exception) -> None:
    primary = Scripted("primary", ProviderOutcomeUnknown("t"), second, idempotent=True)
    backup = Scripted("backup")
    outcome = await send([primary, backup])
    assert isinstance(outcome, Deferred) and outcome.ambiguous_provider == "primary"
    assert backup.keys == []


async def test_a_pin_to_a_provider_no_longer_configured_waits() -> None:
    backup = Scripted("backup")
    outcome = await send([backup], pinned="gone")
    assert outcome == Deferred("AMBIGUOUS_PROVIDER_NOT_CONFIGURED", ambiguous_provider="gone")
    assert backup.keys == []


async def test_consent_withdrawn_before_the_fallback_stops_it() -> None:
    primary, backup = Scripted("primary", REFUSED), Scripted("backup")
    assert await send([primary, backup], gate=Gate(True, False)) == Suppressed()
    assert backup.keys == []
    unknown = UpstreamUnavailable("consent", "UNAVAILABLE")
    assert await send([Scripted("p")], gate=Gate(unknown)) == Deferred("CONSENT_UNAVAILABLE")


async def test_the_breaker_opens_skips_and_tries_again_after_the_cooldown() -> None:
    breakers = CircuitBreakers(BreakerPolicy(failure_threshold=2, cooldown=timedelta(seconds=30)))
    primary = Scripted("primary", REFUSED, REFUSED, REFUSED)
    backup = Scripted("backup")
    for _ in range(2):
        assert await send([primary, backup], breakers=breakers) == Taken("backup", "backup-id")
    assert len(primary.keys) == 2 and breakers["primary"].state(NOW) is BreakerState.OPEN
    # Open: skipped without a call.
    assert await send([primary, backup], breakers=breakers) == Taken("backup", "backup-id")
    assert len(primary.keys) == 2
    # Alone and open: nothing is called, the message waits.
    assert await send([primary], breakers=breakers) == Deferred("PROVIDER_CIRCUIT_OPEN")
    # Half-open after the cool-down: one trial, which fails and opens it again.
    later = NOW + timedelta(seconds=30)
    assert await send([primary, backup], breakers=breakers, now=later) == Taken(
        "backup", "backup-id"
    )
    assert len(primary.keys) == 3 and breakers["primary"].state(later) is BreakerState.OPEN
    # The next trial succeeds: closed again.
    much_later = later + timedelta(seconds=30)
    assert await send([primary, backup], breakers=breakers, now=much_later) == Taken(
        "primary", "primary-id"
    )
    assert breakers["primary"].state(much_later) is BreakerState.CLOSED


def test_breaker_counts_only_consecutive_definite_failures() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown=timedelta(seconds=10)))
    breaker.record_failure(NOW)
    breaker.record_failure(NOW)
    breaker.record_success()
    breaker.record_failure(NOW)
    breaker.record_inconclusive()  # a refused message or a timeout: no verdict
    breaker.record_failure(NOW)
    assert breaker.state(NOW) is BreakerState.CLOSED
    breaker.record_failure(NOW)
    assert breaker.state(NOW) is BreakerState.OPEN
    assert not breaker.allow(NOW + timedelta(seconds=9))
    # Half-open: one trial at a time.
    assert breaker.allow(NOW + timedelta(seconds=10))
    assert not breaker.allow(NOW + timedelta(seconds=10))
    breaker.record_inconclusive()  # the trial ended without a verdict: another may try
    assert breaker.allow(NOW + timedelta(seconds=10))
