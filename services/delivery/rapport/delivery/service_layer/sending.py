"""One attempt at sending one claimed message.

profile -> template (when it names one) -> the channel (chosen now for a best-channel
message) -> address and rendered content -> quiet hours (hold) -> frequency caps
(counted, capped or held) -> the channel's providers in order (fallback.py), with
consent asked immediately before every provider call (a grant is needed; for a
transactional purpose nothing recorded is enough, and SENT then says so in its history:
domain/consent.py), and then whether the message is
still the attempt's (its lease held: an erasure committed meanwhile cancelled it; it
is then left as it is, not sent). Transient failures queue the message again with
backoff (or dead-letter it once attempts are exhausted); definite ones fail it; a
message that will not go out stops counting towards its caps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from rapport.delivery.adapters.cap_store import CapStoreUnavailable
from rapport.delivery.adapters.profile_client import ProfileNotFound
from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.domain import channel_choice, consent
from rapport.delivery.domain.model import Channel, FailureReason, HoldReason, Message
from rapport.delivery.domain.templates import Template

from .best_channel import rank_channels
from .dependencies import Dependencies
from .fallback import Deferred, Fallback, Refused, Suppressed, Taken
from .holds import Capped, clear_caps, quiet_until, stop_counting
from .preparation import NotPrepared, Prepared, prepare
from .recipients import is_marketing, note_identifiers, note_recipient, with_unsubscribe
from .tracking import with_tracking

_log = logging.getLogger(__name__)

# Names the message in every mail, so provider callbacks can be matched to it.
MESSAGE_HEADER = "X-Rapport-Message"


class LeaseLost(Exception):
    """The message is no longer the attempt's (cancelled by an erasure, or claimed again
    after its lease expired): nothing more is done with it, nothing is recorded."""


async def _still_leased(message: Message, deps: Dependencies) -> bool:
    if not message.lease_token:  # not claimed by a dispatcher (attempted directly)
        return True
    # One query for the attempts checking at the same time (a query each costs more
    # than the rest of an attempt's own work on the database).
    held = await deps.lease_checks.submit(message.id, partial(_read_leases, deps))
    return held == message.lease_token


async def _read_leases(deps: Dependencies, message_ids: Sequence[str]) -> list[str | None]:
    async with deps.uow_factory(readonly=True) as uow:
        held = await uow.messages.held_leases(message_ids)
    return [held.get(message_id) for message_id in message_ids]


def retry_later(message: Message, why: str, deps: Dependencies) -> None:
    """After a transient failure: queue again with backoff, or dead-letter."""
    _log.info(
        "transient delivery failure",
        extra={"message_id": message.id, "attempt": message.attempt_count, "error_reason": why},
    )
    message.retry_later(deps.retry_policy, deps.clock(), error=why, draw=deps.uniform())


def _outgoing(message: Message, prepared: Prepared) -> OutgoingMessage:
    rendered = prepared.rendered
    return OutgoingMessage(
        to=prepared.address,
        subject=rendered.subject,
        text_body=rendered.text_body,
        html_body=rendered.html_body,
        headers={MESSAGE_HEADER: message.name} if prepared.channel is Channel.EMAIL else {},
        channel=prepared.channel,
        message_name=message.name,
        # Stable across attempts and unique per message: what providers dedupe on.
        idempotency_key=message.id,
        workspace=message.workspace,
        customer=message.customer,
        purpose=message.purpose,
        source=message.source,
        data=message.data or {},
        create_time=message.create_time,
    )


async def _template(message: Message, deps: Dependencies) -> Template | None:
    async with deps.uow_factory(readonly=True) as uow:
        return await uow.templates.get(message.workspace, message.template_id)


async def attempt_delivery(message: Message, deps: Dependencies) -> None:
    """Mutates `message` into its outcome (sent, suppressed, failed, capped, held or
    queued again)."""
    if message.attempt_count > deps.retry_policy.max_attempts:
        # Claimed again after attempts that never recorded (e.g. a crashing replica).
        message.dead_letter(deps.clock())
        return
    if message.data is None or (message.channel is None and not message.awaits_channel_choice):
        # Stored values this version cannot read: the message can never be rendered.
        message.fail(FailureReason.STORED_MESSAGE_UNREADABLE, deps.clock())
        return
    if message.channel is not None and not deps.providers.get(message.channel):
        # Configuration (another replica, or this one after a restart, may have it).
        retry_later(message, "CHANNEL_NOT_CONFIGURED", deps)
        return
    try:
        profile = await deps.profiles.get_profile(message.customer)
    except ProfileNotFound:
        message.fail(FailureReason.NO_PROFILE, deps.clock())
        return
    except UpstreamUnreadable:
        message.fail(FailureReason.PROFILE_UNREADABLE, deps.clock())
        return
    except UpstreamUnavailable as err:
        retry_later(message, err.failure_code, deps)
        return
    template = await _template(message, deps) if message.template_id else None
    if message.template_id and template is None:
        message.fail(FailureReason.TEMPLATE_NOT_FOUND, deps.clock())
        return
    try:
        await _attempt(message, profile.traits, template, deps)
    except LeaseLost:
        # Its counts stay (another attempt may hold the message now): caps only stricter.
        _log.info("message no longer leased: not sent", extra={"message_id": message.id})
    except UpstreamUnavailable as err:
        retry_later(message, err.failure_code, deps)
    except CapStoreUnavailable:
        retry_later(message, "FREQUENCY_CAPS_UNAVAILABLE", deps)


async def _attempt(
    message: Message, traits: dict[str, Any], template: Template | None, deps: Dependencies
) -> None:
    note_identifiers(message, traits, deps)
    choice = None
    if message.channel is not None:
        ranked: tuple[Channel, ...] = (message.channel,)
    else:
        choice = await rank_channels(message, traits, template, deps)
        if choice.failure is not None:
            message.selection = choice.selection
            if choice.failure is FailureReason.CONSENT_DENIED:
                message.suppress(choice.failure, deps.clock())
            else:
                message.fail(choice.failure, deps.clock(), choice.selection.explanation)
            return
        ranked = choice.ranked
    prepared = prepare(message, ranked[0], traits, template, deps)
    if isinstance(prepared, NotPrepared):
        message.fail(prepared.reason, deps.clock(), prepared.detail)
        return
    release = quiet_until(message, ranked[0], traits, deps)
    if release is not None:
        message.hold(release, HoldReason.QUIET_HOURS, deps.clock())
        return
    cleared = await clear_caps(message, ranked, deps)
    if isinstance(cleared, Capped):
        defer_until = cleared.defer_until
        if defer_until is not None:
            message.hold(defer_until, HoldReason.FREQUENCY_CAP, deps.clock())
        else:
            message.cap(cleared.describe(), deps.clock())
        return
    if cleared.channel is not prepared.channel:
        prepared = prepare(message, cleared.channel, traits, template, deps)
        if isinstance(prepared, NotPrepared):
            await stop_counting(message, deps)
            message.fail(prepared.reason, deps.clock(), prepared.detail)
            return
    if choice is not None:
        message.choose_channel(
            cleared.channel, channel_choice.chosen(choice, cleared.channel, cleared.capped)
        )
    message.locale = prepared.locale
    note_recipient(message, prepared.channel, prepared.address, deps)
    await _send(message, prepared, deps)


async def _send(message: Message, prepared: Prepared, deps: Dependencies) -> None:
    channel = prepared.channel
    transactional = not is_marketing(message, deps)
    why_sent = ""

    async def may_send() -> bool:
        nonlocal why_sent
        # Asked last, right before each provider call: an opt-out committed before
        # that point is always honoured.
        answer = await deps.consents.check(message.customer, message.purpose, channel)
        if not consent.allows(answer, transactional=transactional):
            return False
        why_sent = consent.sent_reason(answer, transactional=transactional)
        # Then the message itself: an erasure committed before this point cancelled it.
        if not await _still_leased(message, deps):
            raise LeaseLost(message.id)
        return True

    outcome = await Fallback(
        deps.providers.get(channel, ()),
        # Tracking first: the unsubscribe link added after it is never wrapped.
        with_unsubscribe(with_tracking(_outgoing(message, prepared), message, deps), message, deps),
        ambiguous_provider=message.ambiguous_provider,
        breakers=deps.breakers,
        clock=deps.clock,
        may_send=may_send,
        limits=deps.limits,
    ).run()
    if isinstance(outcome, Taken):
        if why_sent:
            _log.info(
                "transactional message sent with no consent recorded",
                extra={"message_id": message.id, "purpose": message.purpose},
            )
        message.mark_sent(outcome.provider, outcome.provider_message_id, deps.clock(), why=why_sent)
    elif isinstance(outcome, Suppressed):
        await stop_counting(message, deps)
        message.suppress(FailureReason.CONSENT_DENIED, deps.clock())
    elif isinstance(outcome, Refused):
        await stop_counting(message, deps)
        message.fail(FailureReason.PROVIDER_REJECTED, deps.clock())
    elif isinstance(outcome, Deferred):
        # Still counted: the retry goes out on the same channel, counted once.
        message.ambiguous_provider = outcome.ambiguous_provider
        retry_later(message, outcome.reason, deps)
        if message.is_final:  # dead-lettered
            await stop_counting(message, deps)
