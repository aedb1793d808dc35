"""Open and click tracking (domain/tracking.py): the pixel and rewritten links put into
an email when it is sent, and the opens and clicks they report, recorded through the
same path as a provider's (provider_events.apply_event): status history, message
events, profile events, erasure."""

from __future__ import annotations

import dataclasses

from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.domain import status, tracking
from rapport.delivery.domain.model import Channel, Message
from rapport.delivery.domain.status import ProviderEvent

from .dependencies import Dependencies
from .provider_events import EventReport, apply_event
from .recipients import is_marketing


def with_tracking(
    outgoing: OutgoingMessage, message: Message, deps: Dependencies
) -> OutgoingMessage:
    """The email's HTML part with the open pixel and its links rewritten, as the
    workspace's tracking says; anything else (text parts, other channels, a deployment
    without tracking) as it is. Only what goes out changes: the stored message, and so
    its idempotency fingerprint, never does; the tokens are the same on every attempt."""
    if outgoing.channel is not Channel.EMAIL or not outgoing.html_body:
        return outgoing
    wanted = deps.loop.tracking_for(message.workspace)
    if wanted is None or not (wanted.opens or wanted.clicks):
        return outgoing
    if not wanted.transactional and not is_marketing(message, deps):
        return outgoing
    tokens = deps.loop.tracking_tokens
    base = deps.loop.public_base_url

    # A mail often has the same link twice (logo, button). None: the link is not tracked.
    signed: dict[str, str | None] = {}

    def link_url(url: str) -> str | None:
        if url not in signed:
            token = tokens.click_token(message.workspace, message.id, url)
            signed[url] = tracking.click_url(base, token) if token is not None else None
        return signed[url]

    pixel = tracking.open_url(base, tokens.open_token(message.workspace, message.id))
    html_body = tracking.tracked_html(
        outgoing.html_body,
        pixel_url=pixel if wanted.opens else None,
        link_url=link_url if wanted.clicks else None,
        # Links to delivery's own endpoint (unsubscribe...) are never wrapped.
        own_prefix=f"{base.rstrip('/')}/v1/",
    )
    return dataclasses.replace(outgoing, html_body=html_body)


def read_open(token: str, deps: Dependencies) -> tracking.Tracked:
    """What a pixel's token names; TokenMalformed / TokenRefused."""
    return deps.loop.tracking_tokens.read_open(token)


def read_click(token: str, deps: Dependencies) -> tracking.Tracked:
    """What a link's token names, its URL included; TokenMalformed / TokenRefused."""
    return deps.loop.tracking_tokens.read_click(token)


async def record_open(tracked: tracking.Tracked, deps: Dependencies) -> EventReport:
    """OPENED, once per message, and one more open counted, every time (a message
    erased, unknown or of a workspace this deployment does not serve records nothing)."""
    return await apply_event(
        deps,
        workspace=tracked.workspace,
        message_id=tracked.message_id,
        event=ProviderEvent.OPENED,
        time=deps.clock(),
        reporter=status.DELIVERY,
    )


async def record_click(tracked: tracking.Tracked, deps: Dependencies) -> EventReport:
    """CLICKED with the link (tracking.click_reason), once per message, and one more
    click counted, every time; also OPENED (and counted) when no open was recorded
    (images blocked: the click shows it was read)."""
    return await apply_event(
        deps,
        workspace=tracked.workspace,
        message_id=tracked.message_id,
        event=ProviderEvent.CLICKED,
        time=deps.clock(),
        reason=tracking.click_reason(tracked.url),
        reporter=status.DELIVERY,
        implied=(ProviderEvent.OPENED, "click"),
    )
