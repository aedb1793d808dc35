"""Best channel: which of the candidate channels a message should go out on.

Usable channels are those the customer can be reached on (an address, a phone
number, a push token; the inbox always), with consent for the message's purpose,
and for which the message has content (for SMS, content not too long to send once
rendered: domain/sms_length.py). They are ranked: first the customer's
stated preference (a profile trait holding a channel, or a list of them in order),
then the rest in the configured cost order (cheapest first). The message goes out
on the first ranked channel that frequency caps allow (see sending.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import Channel, ChannelEvaluation, ChannelSelection, FailureReason

USABLE = "USABLE"
NO_CONSENT = "NO_CONSENT"
NO_CONTENT = "NO_CONTENT"
# The SMS's final text takes more segments than are sent (as FailureReason.SMS_TOO_LONG).
SMS_TOO_LONG = "SMS_TOO_LONG"
CAPPED = "CAPPED"
PREFERRED_CHANNEL = "PREFERRED_CHANNEL"
LOWEST_COST = "LOWEST_COST"

# Cheapest first; a channel left out of a configured order ranks after those in it.
DEFAULT_COST_ORDER = (Channel.IN_APP, Channel.PUSH, Channel.EMAIL, Channel.SMS, Channel.WEBHOOK)
# What a sender's empty candidate list means (webhooks reach a system, not the customer).
DEFAULT_CANDIDATES = (Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.IN_APP)

_SPELLINGS = {
    "email": Channel.EMAIL,
    "e-mail": Channel.EMAIL,
    "mail": Channel.EMAIL,
    "sms": Channel.SMS,
    "text": Channel.SMS,
    "push": Channel.PUSH,
    "in_app": Channel.IN_APP,
    "in-app": Channel.IN_APP,
    "inapp": Channel.IN_APP,
    "webhook": Channel.WEBHOOK,
}


def parse_channel_name(value: str) -> Channel | None:
    """`sms`, `SMS`, `CHANNEL_SMS`, `in-app`... -> the channel; None when not one."""
    text = value.strip().lower().removeprefix("channel_")
    return _SPELLINGS.get(text)


def stated_preference(traits: Mapping[str, Any], trait: str) -> list[Channel]:
    """The channels the customer prefers, in order; unknown values are ignored."""
    value = traits.get(trait)
    items = value if isinstance(value, list) else [value]
    preferred: list[Channel] = []
    for item in items[:10]:
        channel = parse_channel_name(item) if isinstance(item, str) else None
        if channel is not None and channel not in preferred:
            preferred.append(channel)
    return preferred


@dataclass(frozen=True)
class ChannelRanking:
    preference_trait: str = "preferred_channel"
    cost_order: tuple[Channel, ...] = DEFAULT_COST_ORDER

    def cost_rank(self, channel: Channel) -> int:
        return (
            self.cost_order.index(channel) if channel in self.cost_order else len(self.cost_order)
        )


@dataclass(frozen=True)
class Choice:
    """The usable channels, best first (empty when none is), and the record of why."""

    ranked: tuple[Channel, ...]
    selection: ChannelSelection
    # When nothing is usable: how the message ends (SUPPRESSED when only consent was
    # missing somewhere reachable, else FAILED).
    failure: FailureReason | None = None


def choose(
    candidates: Sequence[Channel],
    *,
    traits: Mapping[str, Any],
    ranking: ChannelRanking,
    reachability: Callable[[Channel], FailureReason | None],
    consents: Mapping[Channel, bool],
    carries: Callable[[Channel], bool],
    now: datetime,
    too_long: Callable[[Channel], bool] = lambda channel: False,
) -> Choice:
    """Rank `candidates` (see the module doc). `reachability` gives None for a channel
    the customer can be reached on, else why not; `consents` holds the consent check
    per channel; `carries` says whether the message has content for the channel, and
    `too_long` whether that content is too long to send on it (asked only of a channel
    that is reachable and carries it: it may have to render the content)."""
    preferred = stated_preference(traits, ranking.preference_trait)

    def order(channel: Channel) -> tuple[int, int]:
        position = preferred.index(channel) if channel in preferred else len(preferred)
        return position, ranking.cost_rank(channel)

    evaluations: list[ChannelEvaluation] = []
    for channel in sorted(candidates, key=order):
        unreachable = reachability(channel)
        if unreachable is not None:
            status = unreachable.value
        elif not carries(channel):
            status = NO_CONTENT
        elif too_long(channel):
            status = SMS_TOO_LONG
        elif not consents.get(channel, False):
            status = NO_CONSENT
        else:
            status = USABLE
        evaluations.append(
            ChannelEvaluation(channel, status, channel in preferred, ranking.cost_rank(channel))
        )
    ranked = tuple(e.channel for e in evaluations if e.status == USABLE)
    selection = ChannelSelection(
        candidate_channels=tuple(candidates), evaluations=tuple(evaluations), select_time=now
    )
    if ranked:
        return Choice(ranked, selection)
    statuses = {e.status for e in evaluations}
    if NO_CONSENT in statuses:
        failure = FailureReason.CONSENT_DENIED
    elif SMS_TOO_LONG in statuses:
        failure = FailureReason.SMS_TOO_LONG
    else:
        failure = FailureReason.NO_ADDRESS
    explanation = "no candidate channel is usable: " + _statuses(evaluations)
    return Choice((), _with(selection, "", explanation), failure)


def chosen(choice: Choice, channel: Channel, capped: Sequence[Channel] = ()) -> ChannelSelection:
    """The record of `channel` chosen from `choice`, the `capped` ones passed over."""
    evaluations = tuple(
        ChannelEvaluation(e.channel, CAPPED, e.preferred, e.cost_rank) if e.channel in capped else e
        for e in choice.selection.evaluations
    )
    by_channel = {e.channel: e for e in evaluations}
    reason = PREFERRED_CHANNEL if by_channel[channel].preferred else LOWEST_COST
    passed_over = [
        e for e in evaluations if e.channel != channel and _ranked_before(e, channel, evaluations)
    ]
    if reason == PREFERRED_CHANNEL:
        explanation = f"{channel.value} is the customer's preferred channel"
    else:
        explanation = f"{channel.value} is the lowest-cost usable channel"
    if passed_over:
        explanation = f"{_statuses(passed_over)}; {explanation}"
    return ChannelSelection(
        candidate_channels=choice.selection.candidate_channels,
        reason=reason,
        explanation=explanation,
        evaluations=evaluations,
        select_time=choice.selection.select_time,
    )


def _ranked_before(
    evaluation: ChannelEvaluation, channel: Channel, evaluations: Sequence[ChannelEvaluation]
) -> bool:
    order = [e.channel for e in evaluations]
    return order.index(evaluation.channel) < order.index(channel)


def _statuses(evaluations: Sequence[ChannelEvaluation]) -> str:
    words = {
        NO_CONSENT: "has no consent",
        NO_CONTENT: "has no content",
        SMS_TOO_LONG: "is too long",
        CAPPED: "is capped",
        FailureReason.NO_ADDRESS.value: "is not reachable",
        FailureReason.INVALID_ADDRESS.value: "has an invalid address",
    }
    return ", ".join(
        f"{'preferred ' if e.preferred else ''}{e.channel.value} {words.get(e.status, e.status)}"
        for e in evaluations
    )


def _with(selection: ChannelSelection, reason: str, explanation: str) -> ChannelSelection:
    return ChannelSelection(
        candidate_channels=selection.candidate_channels,
        reason=reason,
        explanation=explanation,
        evaluations=selection.evaluations,
        select_time=selection.select_time,
    )
