"""One attempt at sending one claimed message.

profile -> address -> templates -> the channel's providers in order (fallback.py),
with consent asked immediately before every provider call. Transient failures
queue the message again with backoff (or dead-letter it once attempts are
exhausted); definite ones fail it.
"""

from __future__ import annotations

import logging

from rapport.delivery.adapters.profile_client import ProfileNotFound
from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.domain.model import Channel, FailureReason, Message
from rapport.delivery.domain.templates import (
    RenderedContent,
    TemplateRenderError,
    render_content,
)

from .dependencies import Dependencies
from .fallback import Deferred, Fallback, Refused, Suppressed, Taken

_log = logging.getLogger(__name__)

# Names the message in every mail, so provider callbacks can be matched to it.
MESSAGE_HEADER = "X-Rapport-Message"


def retry_later(message: Message, why: str, deps: Dependencies) -> None:
    """After a transient failure: queue again with backoff, or dead-letter."""
    _log.info(
        "transient delivery failure",
        extra={"message_id": message.id, "attempt": message.attempt_count, "error_reason": why},
    )
    message.retry_later(deps.retry_policy, deps.clock())


def _outgoing(
    message: Message, channel: Channel, address: str, rendered: RenderedContent
) -> OutgoingMessage:
    return OutgoingMessage(
        to=address,
        subject=rendered.subject,
        text_body=rendered.text_body,
        html_body=rendered.html_body,
        headers={MESSAGE_HEADER: message.name} if channel is Channel.EMAIL else {},
        channel=channel,
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


async def attempt_delivery(message: Message, deps: Dependencies) -> None:
    """Mutates `message` into its outcome (sent, suppressed, failed or queued again)."""
    if message.attempt_count > deps.retry_policy.max_attempts:
        # Claimed again after attempts that never recorded (e.g. a crashing replica).
        message.fail(FailureReason.RETRIES_EXHAUSTED, deps.clock())
        return
    if message.channel is None or message.data is None:
        # Stored values this version cannot read: the message can never be rendered.
        message.fail(FailureReason.STORED_MESSAGE_UNREADABLE, deps.clock())
        return
    channel = message.channel
    providers = deps.providers.get(channel)
    if not providers:
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

    address = deps.addressing.recipient(
        channel, profile.traits, workspace=message.workspace, customer=message.customer
    )
    if isinstance(address, FailureReason):
        message.fail(address, deps.clock())
        return
    try:
        rendered = render_content(
            message.content, traits=profile.traits, data=message.data, customer=message.customer
        )
    except TemplateRenderError:
        message.fail(FailureReason.TEMPLATE_ERROR, deps.clock())
        return

    async def may_send() -> bool:
        # Asked last, right before each provider call: an opt-out committed before
        # that point is always honoured.
        return await deps.consents.is_allowed(message.customer, message.purpose, channel)

    outcome = await Fallback(
        providers,
        _outgoing(message, channel, address, rendered),
        ambiguous_provider=message.ambiguous_provider,
        breakers=deps.breakers,
        clock=deps.clock,
        may_send=may_send,
    ).run()
    if isinstance(outcome, Taken):
        message.mark_sent(outcome.provider, outcome.provider_message_id, deps.clock())
    elif isinstance(outcome, Suppressed):
        message.suppress(FailureReason.CONSENT_DENIED, deps.clock())
    elif isinstance(outcome, Refused):
        message.fail(FailureReason.PROVIDER_REJECTED, deps.clock())
    elif isinstance(outcome, Deferred):
        message.ambiguous_provider = outcome.ambiguous_provider
        retry_later(message, outcome.reason, deps)
