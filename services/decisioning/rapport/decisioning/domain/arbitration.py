"""Deciding the next best actions: screening, consent filtering, scoring and ranking.

Decide runs in two pure steps around one consent look-up:
``screen`` keeps the actions in their window, on the channel and eligible, and
says which (purpose, channel) pairs need consent; ``arbitrate`` applies the
consent answers, scores and ranks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import Action, Channel, ExcludedAction, ExclusionReason, RankedAction, ScoreParts
from .rules import RuleBook, RuleEvaluationError

# Until a model scores actions the context weighs nothing either way.
NEUTRAL_CONTEXT_WEIGHT = 1.0
# Greedy ranking is deterministic: each action is chosen with certainty.
GREEDY_PROBABILITY = 1.0

ConsentPair = tuple[str, Channel]  # (purpose, channel)


@dataclass(frozen=True)
class Candidate:
    """An action that passed the window, channel and eligibility checks."""

    action: Action
    # Channels to offer it on, in the action's order (only the requested one if any).
    channels: tuple[Channel, ...]
    rule_note: str


def rule_variables(
    customer: str, traits: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """What eligibility rules see: `profile` (traits, customer) and `context`."""
    return {
        "profile": {"traits": dict(traits), "customer": customer},
        "context": dict(context),
    }


def screen(
    actions: Iterable[Action],
    *,
    now: datetime,
    requested_channel: Channel | None,
    variables: dict[str, Any],
    rules: RuleBook,
) -> tuple[list[Candidate], list[ExcludedAction]]:
    candidates: list[Candidate] = []
    excluded: list[ExcludedAction] = []
    for action in actions:
        if not action.in_window(now):
            excluded.append(
                ExcludedAction(
                    action.name, ExclusionReason.OUT_OF_WINDOW, _window_text(action, now)
                )
            )
            continue
        if requested_channel is not None and requested_channel not in action.channels:
            offered = ", ".join(c.value for c in action.channels)
            excluded.append(
                ExcludedAction(
                    action.name,
                    ExclusionReason.CHANNEL_MISMATCH,
                    f"Not offered on {requested_channel.value} (only {offered}).",
                )
            )
            continue
        rule = action.eligibility.strip()
        try:
            eligible = rules.evaluate(rule, variables)
        except RuleEvaluationError as err:
            excluded.append(
                ExcludedAction(
                    action.name,
                    ExclusionReason.RULE_ERROR,
                    f"Eligibility rule `{rule}` failed: {err}.",
                )
            )
            continue
        if not eligible:
            excluded.append(
                ExcludedAction(
                    action.name,
                    ExclusionReason.NOT_ELIGIBLE,
                    f"Eligibility rule `{rule}` is false.",
                )
            )
            continue
        channels = (requested_channel,) if requested_channel is not None else action.channels
        note = f"eligibility rule `{rule}` is true" if rule else "no eligibility rule"
        candidates.append(Candidate(action, channels, note))
    return candidates, excluded


def consent_pairs(candidates: Iterable[Candidate]) -> list[ConsentPair]:
    """The distinct (purpose, channel) pairs to check, in first-seen order."""
    pairs: dict[ConsentPair, None] = {}
    for candidate in candidates:
        for channel in candidate.channels:
            if channel.needs_consent:
                pairs[(candidate.action.purpose, channel)] = None
    return list(pairs)


def arbitrate(
    candidates: Sequence[Candidate],
    consent: Mapping[ConsentPair, bool],
    *,
    max_actions: int,
) -> tuple[list[RankedAction], list[ExcludedAction]]:
    """Rank the candidates that have consent on some channel; exclude the others.

    `consent` must answer every pair of ``consent_pairs(candidates)``.
    """
    scored: list[tuple[Candidate, Channel, ScoreParts, str]] = []
    excluded: list[ExcludedAction] = []
    for candidate in candidates:
        action = candidate.action
        chosen = next(
            (c for c in candidate.channels if not c.needs_consent or consent[(action.purpose, c)]),
            None,
        )
        if chosen is None:
            tried = ", ".join(c.value for c in candidate.channels)
            excluded.append(
                ExcludedAction(
                    action.name,
                    ExclusionReason.NO_CONSENT,
                    f"No consent for {action.purpose} on {tried}.",
                )
            )
            continue
        consent_note = (
            f"consent granted for {action.purpose} on {chosen.value}"
            if chosen.needs_consent
            else f"no consent needed on {chosen.value}"
        )
        score = ScoreParts(
            propensity=action.base_propensity,
            context_weight=NEUTRAL_CONTEXT_WEIGHT,
            value=action.value,
            lever=action.lever,
        )
        scored.append((candidate, chosen, score, consent_note))

    scored.sort(key=lambda item: (-item[2].priority, item[0].action.name))
    ranked = [
        RankedAction(
            action=candidate.action.name,
            rank=rank,
            priority=score.priority,
            score=score,
            probability=GREEDY_PROBABILITY,
            channel=channel,
            explanation=_explain(candidate, channel, score, consent_note, rank),
        )
        for rank, (candidate, channel, score, consent_note) in enumerate(
            scored[:max_actions], start=1
        )
    ]
    return ranked, excluded


def _number(value: float) -> str:
    return f"{value:g}"


def _explain(
    candidate: Candidate, channel: Channel, score: ScoreParts, consent_note: str, rank: int
) -> str:
    return (
        f"Ranked {rank} on {channel.value}: {candidate.rule_note}; {consent_note}; "
        f"priority = propensity {_number(score.propensity)} × context weight "
        f"{_number(score.context_weight)} × value {_number(score.value)} × lever "
        f"{_number(score.lever)} = {_number(score.priority)}."
    )


def _window_text(action: Action, now: datetime) -> str:
    if action.start_time is not None and now < action.start_time:
        return f"Offered only from {action.start_time.isoformat()}."
    assert action.end_time is not None
    return f"Offered only until {action.end_time.isoformat()}."
