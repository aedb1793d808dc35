"""One attempt at sending one claimed message.

profile -> address -> templates -> consent, checked immediately before the
provider call -> provider. Transient failures queue the message again with
backoff (or dead-letter it once attempts are exhausted); definite ones fail it.
"""

from __future__ import annotations

import logging

from rapport.delivery.adapters.email_provider import (
    OutgoingEmail,
    ProviderRejectedError,
    ProviderTransientError,
)
from rapport.delivery.adapters.profile_client import ProfileNotFound
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.domain.addressing import email_address
from rapport.delivery.domain.model import FailureReason, Message
from rapport.delivery.domain.templates import TemplateRenderError, render_content

from .dependencies import Dependencies

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


def _upstream_failure(service: str, err: UpstreamUnavailable) -> str:
    # E.g. PROFILE_UNAVAILABLE, or PROFILE_UNAVAILABLE_SHUTTING_DOWN with the other
    # service's ErrorInfo reason.
    return "_".join(part for part in (service, err.code, err.reason) if part)


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
    provider = deps.providers.get(message.channel)
    if provider is None:
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
        retry_later(message, _upstream_failure("PROFILE", err), deps)
        return

    address = email_address(profile.traits)
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

    # Consent is asked last, right before the provider call: an opt-out
    # committed before this point is always honoured.
    try:
        allowed = await deps.consents.is_allowed(message.customer, message.purpose, message.channel)
    except UpstreamUnavailable as err:
        retry_later(message, _upstream_failure("CONSENT", err), deps)
        return
    if not allowed:
        message.suppress(FailureReason.CONSENT_DENIED, deps.clock())
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
        retry_later(message, f"PROVIDER_{err}".upper().replace(" ", "_"), deps)
        return
    except ProviderRejectedError:
        message.fail(FailureReason.PROVIDER_REJECTED, deps.clock())
        return
    message.mark_sent(provider.name, provider_message_id, deps.clock())
