"""What the closed loop needs at send time: where a message went (address, its keyed hash,
the customer's identifiers for profile events) and, on marketing email, the unsubscribe
link and RFC 8058 headers."""

from __future__ import annotations

import dataclasses
from typing import Any

from rapport.delivery.adapters.providers import OutgoingMessage
from rapport.delivery.domain import status, unsubscribe
from rapport.delivery.domain.model import Channel, Message

from .dependencies import Dependencies


def note_identifiers(message: Message, traits: dict[str, Any], deps: Dependencies) -> None:
    """The customer's identifiers, for the profile events of the message's status changes."""
    message.identifiers = status.identifiers_from(traits, dict(deps.loop.identifier_traits))


def note_recipient(message: Message, channel: Channel, address: str, deps: Dependencies) -> None:
    message.recipient = address
    message.recipient_key = deps.loop.recipient_key(channel, address)


def is_marketing(message: Message, deps: Dependencies) -> bool:
    return is_marketing_purpose(message.purpose, deps)


def is_marketing_purpose(purpose: str, deps: Dependencies) -> bool:
    """A purpose not listed as transactional (of service messages)."""
    return purpose not in deps.policy.caps.transactional_purposes


def with_unsubscribe(
    outgoing: OutgoingMessage, message: Message, deps: Dependencies
) -> OutgoingMessage:
    """A marketing email with its unsubscribe link (text and HTML) and RFC 8058 headers;
    anything else as it is."""
    if outgoing.channel is not Channel.EMAIL or not is_marketing(message, deps):
        return outgoing
    token = deps.loop.tokens.issue(
        unsubscribe.Unsubscribe(
            workspace=message.workspace,
            customer_id=message.customer_id,
            channel=Channel.EMAIL,
            purpose=message.purpose,
            message_id=message.id,
            issue_time=deps.clock(),
        )
    )
    url = unsubscribe.unsubscribe_url(deps.loop.public_base_url, token)
    return dataclasses.replace(
        outgoing,
        text_body=unsubscribe.text_with_link(outgoing.text_body, url),
        html_body=(
            unsubscribe.html_with_link(outgoing.html_body, url) if outgoing.html_body else None
        ),
        headers={**outgoing.headers, **unsubscribe.list_unsubscribe_headers(url)},
    )
