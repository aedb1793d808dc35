"""The dispatcher: drains the durable queue (the messages table) through the providers.

Each message is claimed with a lease (so replicas sharing the database never
work on the same one), then: profile -> address -> templates -> consent, checked
immediately before the provider call -> provider. Transient failures go back to
the queue with exponential backoff; after max_attempts the message is FAILED
with RETRIES_EXHAUSTED and stays queryable (the dead-letter state).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from rapport.delivery.adapters.consent_client import ConsentClient
from rapport.delivery.adapters.email_provider import (
    EmailProvider,
    OutgoingEmail,
    ProviderRejectedError,
    ProviderTransientError,
)
from rapport.delivery.adapters.profile_client import ProfileClient, ProfileNotFound
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.domain.addressing import email_address
from rapport.delivery.domain.model import Channel, FailureReason, Message, RetryPolicy
from rapport.delivery.domain.templates import TemplateRenderError, render_content

from .handlers import utc_now
from .unit_of_work import UnitOfWorkFactory

_log = logging.getLogger(__name__)

MESSAGE_HEADER = "X-Rapport-Message"


def _error(err: Exception) -> dict[str, str]:
    # The type only: exception texts (SQL parameters, header values) may carry personal data.
    return {"error_reason": type(err).__name__}


class Dispatcher:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        profiles: ProfileClient,
        consents: ConsentClient,
        providers: Mapping[Channel, EmailProvider],
        policy: RetryPolicy,
        *,
        concurrency: int = 8,
        poll_seconds: float = 0.5,
        attempt_timeout_seconds: float = 60.0,
        lease_seconds: float = 120.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._uow_factory = uow_factory
        self._profiles = profiles
        self._consents = consents
        self._providers = dict(providers)
        self._policy = policy
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._attempt_timeout = attempt_timeout_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._wake = asyncio.Event()

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset(self._providers)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: claim what is due (up to the free slots), then wait for a wake-up or poll."""
        in_flight: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()  # a slot is free: look for more work

        try:
            while True:
                self._wake.clear()
                free = self._concurrency - len(in_flight)
                claimed: list[tuple[Message, str]] = []
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                    except Exception as err:
                        _log.error("claiming due messages failed", extra=_error(err))
                for message, token in claimed:
                    task = asyncio.create_task(self._attempt(message, token))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                if claimed and len(claimed) == free:
                    continue  # maybe more due; a full house waits on `finished` next round
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                except TimeoutError:
                    pass
        finally:
            # Leases of interrupted attempts expire, and the messages are retried then.
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def dispatch_due(self) -> int:
        """Claim and attempt everything due now, once; returns how many were attempted."""
        attempted = 0
        while claimed := await self._claim(self._concurrency):
            await asyncio.gather(*(self._attempt(m, t) for m, t in claimed))
            attempted += len(claimed)
        return attempted

    async def _claim(self, limit: int) -> list[tuple[Message, str]]:
        token = uuid.uuid4().hex
        now = self._clock()
        async with self._uow_factory() as uow:
            messages = await uow.messages.claim_due(
                now=now, limit=limit, lease_token=token, lease_expire_time=now + self._lease
            )
            await uow.commit()
        return [(message, token) for message in messages]

    async def _attempt(self, message: Message, lease_token: str) -> None:
        try:
            async with asyncio.timeout(self._attempt_timeout):
                await self._deliver(message)
        except TimeoutError:
            self._retry(message, "ATTEMPT_TIMEOUT")
        except asyncio.CancelledError:
            # Shutting down: hand the message back now rather than when the lease expires.
            await self._release(message, lease_token)
            raise
        except Exception as err:
            _log.error("delivery attempt crashed", extra={"message_id": message.id, **_error(err)})
            self._retry(message, "INTERNAL")
        # Once the provider took the message, a shutdown must not lose the record of it.
        recording = asyncio.ensure_future(self._record(message, lease_token))
        try:
            kept = await asyncio.shield(recording)
        except asyncio.CancelledError:
            await recording
            raise
        if not kept:
            return
        outcome = {
            "message_id": message.id,
            "customer": message.customer_id,
            "attempt": message.attempt_count,
            "status": message.state.value,
            "channel": message.channel.value,
        }
        if message.failure_reason:
            outcome["error_reason"] = message.failure_reason
        _log.info("delivery attempt", extra=outcome)

    async def _record(self, message: Message, lease_token: str) -> bool:
        try:
            async with self._uow_factory() as uow:
                kept = await uow.messages.record_attempt(message, lease_token)
                await uow.commit()
        except Exception as err:
            # The lease expires and the message is attempted again (at least once).
            _log.error(
                "recording a delivery attempt failed",
                extra={"message_id": message.id, **_error(err)},
            )
            return False
        if not kept:
            _log.warning("lease lost before recording", extra={"message_id": message.id})
        return kept

    async def _release(self, message: Message, lease_token: str) -> None:
        try:
            async with asyncio.timeout(2):
                async with self._uow_factory() as uow:
                    await uow.messages.record_attempt(message, lease_token)
                    await uow.commit()
        except Exception:
            _log.warning("could not release a lease", extra={"message_id": message.id})

    def _retry(self, message: Message, why: str) -> None:
        _log.info(
            "transient delivery failure",
            extra={"message_id": message.id, "attempt": message.attempt_count, "error_reason": why},
        )
        message.retry_later(self._policy, self._clock())

    async def _deliver(self, message: Message) -> None:
        """Mutates `message` into its outcome (sent, suppressed, failed or queued again)."""
        if message.attempt_count > self._policy.max_attempts:
            # Claimed again after attempts that never recorded (e.g. a crashing replica).
            message.fail(FailureReason.RETRIES_EXHAUSTED, self._clock())
            return
        provider = self._providers[message.channel]
        try:
            profile = await self._profiles.get_profile(message.customer)
        except ProfileNotFound:
            message.fail(FailureReason.NO_PROFILE, self._clock())
            return
        except UpstreamUnavailable as err:
            self._retry(message, f"PROFILE_{err.code}")
            return

        address = email_address(profile.traits)
        if isinstance(address, FailureReason):
            message.fail(address, self._clock())
            return
        try:
            rendered = render_content(
                message.content, traits=profile.traits, data=message.data, customer=message.customer
            )
        except TemplateRenderError:
            message.fail(FailureReason.TEMPLATE_ERROR, self._clock())
            return

        # Consent is asked last, right before the provider call: an opt-out
        # committed before this point is always honoured.
        try:
            allowed = await self._consents.is_allowed(
                message.customer, message.purpose, message.channel
            )
        except UpstreamUnavailable as err:
            self._retry(message, f"CONSENT_{err.code}")
            return
        if not allowed:
            message.suppress(FailureReason.CONSENT_DENIED, self._clock())
            return

        outgoing = OutgoingEmail(
            to=address,
            subject=rendered.subject,
            text_body=rendered.text_body,
            html_body=rendered.html_body,
            headers={MESSAGE_HEADER: message.name},
        )
        try:
            provider_message_id = await provider.send(outgoing)
        except ProviderTransientError as err:
            self._retry(message, f"PROVIDER_{err}".upper().replace(" ", "_"))
            return
        except ProviderRejectedError:
            message.fail(FailureReason.PROVIDER_REJECTED, self._clock())
            return
        message.mark_sent(provider.name, provider_message_id, self._clock())
