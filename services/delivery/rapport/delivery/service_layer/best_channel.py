"""Ranking a best-channel message's candidates (domain/channel_choice.py) with what it
takes: the profile's addresses, one BatchCheckConsent (read as domain/consent.py says:
for a transactional purpose nothing recorded allows), the content per channel (an SMS
candidate's rendered, to know whether it is too long to send)."""

from __future__ import annotations

from typing import Any

from rapport.delivery.domain import channel_choice, consent
from rapport.delivery.domain.model import Channel, FailureReason, Message
from rapport.delivery.domain.templates import Template

from .dependencies import Dependencies
from .preparation import can_carry, sms_length_problem
from .recipients import is_marketing


async def rank_channels(
    message: Message, traits: dict[str, Any], template: Template | None, deps: Dependencies
) -> channel_choice.Choice:
    """Raises UpstreamUnavailable when consent cannot be known (the message waits)."""
    assert message.selection is not None
    candidates = message.selection.candidate_channels

    def reachability(channel: Channel) -> FailureReason | None:
        if not deps.providers.get(channel):
            return FailureReason.NO_ADDRESS  # no longer configured here
        address = deps.addressing.recipient(
            channel, traits, workspace=message.workspace, customer=message.customer
        )
        return address if isinstance(address, FailureReason) else None

    reachable = [c for c in candidates if reachability(c) is None]
    answers = (
        await deps.consents.check_channels(message.customer, message.purpose, reachable)
        if reachable
        else {}
    )
    transactional = not is_marketing(message, deps)
    consents = {c: consent.allows(a, transactional=transactional) for c, a in answers.items()}
    return channel_choice.choose(
        candidates,
        traits=traits,
        ranking=deps.policy.ranking,
        reachability=reachability,
        consents=consents,
        carries=lambda channel: can_carry(message, channel, traits, template, deps),
        now=deps.clock(),
        too_long=lambda channel: (
            channel is Channel.SMS
            and sms_length_problem(message, traits, template, deps) is not None
        ),
    )
