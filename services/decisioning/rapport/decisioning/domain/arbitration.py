"""The last steps of a decision: consent, scoring and arbitration.

Priority = propensity × context weight × value × levers, each part switched on or
off by the workspace's ArbitrationSettings (a part switched off counts as 1). Ties
are broken by the action's name, so the same inputs always rank the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .contact_policy import ContactBudget
from .engagement import Candidate, action_variable
from .model import Action, Channel, ExcludedAction, ExclusionReason, RankedAction, ScoreParts
from .policies import ArbitrationSettings, PriorityPart
from .rules import RuleEnvironment, RuleEvaluationError

# Greedy ranking is deterministic: each action is chosen with certainty.
GREEDY_PROBABILITY = 1.0

ConsentPair = tuple[str, Channel]  # (purpose, channel)


class PropensityModel(Protocol):
    """Scores how likely the customer is to take an action up (the model step plugs in here)."""

    def propensity(self, action: Action) -> tuple[float, str]:
        """The propensity in [0, 1] and, in words, where it comes from."""
        ...


class BasePropensity:
    """The action's own base propensity, until a model scores it."""

    def propensity(self, action: Action) -> tuple[float, str]:
        return action.base_propensity, "base propensity"


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: ScoreParts
    note: str


def consent_pairs(candidates: Iterable[Candidate]) -> list[ConsentPair]:
    """The distinct (purpose, channel) pairs to check, in first-seen order."""
    pairs: dict[ConsentPair, None] = {}
    for candidate in candidates:
        for channel in candidate.channels:
            if channel.needs_consent:
                pairs[(candidate.action.purpose, channel)] = None
    return list(pairs)


def filter_consent(
    candidates: Sequence[Candidate], consent: Mapping[ConsentPair, bool]
) -> tuple[list[Candidate], list[ExcludedAction]]:
    """Candidates on the channels they have consent for; a pair not answered is refused."""
    kept: list[Candidate] = []
    excluded: list[ExcludedAction] = []
    for candidate in candidates:
        purpose = candidate.action.purpose
        allowed = tuple(
            c for c in candidate.channels if not c.needs_consent or consent.get((purpose, c), False)
        )
        if not allowed:
            tried = ", ".join(c.value for c in candidate.channels)
            text = f"No consent for {purpose} on {tried}."
            excluded.append(ExcludedAction(candidate.action.name, ExclusionReason.NO_CONSENT, text))
            continue
        kept.append(dataclasses.replace(candidate, channels=allowed))
    return kept, excluded


def _context_weight(
    settings: ArbitrationSettings, env: RuleEnvironment, candidate: Candidate
) -> tuple[float, list[str]]:
    weight = 1.0
    notes: list[str] = []
    variable = action_variable(candidate.action, candidate.group)
    for index, rule in enumerate(settings.context_weights):
        try:
            if env.evaluate(rule.condition, variable):
                weight *= rule.weight
                notes.append(f"context weight {_number(rule.weight)} for `{rule.condition}`")
        except RuleEvaluationError as err:
            notes.append(f"context weight rule {index + 1} failed ({err}), not applied")
    return weight, notes


def score(
    candidates: Sequence[Candidate],
    settings: ArbitrationSettings,
    env: RuleEnvironment,
    model: PropensityModel,
) -> list[Scored]:
    parts = set(settings.priority_parts)
    scored = []
    for candidate in candidates:
        action = candidate.action
        propensity, source = model.propensity(action)
        notes = [f"propensity from {source}"]
        weight = 1.0
        if PriorityPart.CONTEXT_WEIGHT in parts and settings.context_weights:
            weight, weight_notes = _context_weight(settings, env, candidate)
            notes.extend(weight_notes)
        group_lever = candidate.group.lever if candidate.group is not None else 1.0
        unused = [p.value for p in PriorityPart if p not in parts]
        if unused:
            notes.append(f"{', '.join(unused)} not used by the arbitration settings")
        parts_used = ScoreParts(
            propensity=propensity if PriorityPart.PROPENSITY in parts else 1.0,
            context_weight=weight,
            value=action.value if PriorityPart.VALUE in parts else 1.0,
            lever=action.lever * group_lever if PriorityPart.LEVER in parts else 1.0,
        )
        scored.append(Scored(candidate, parts_used, "; ".join(notes)))
    return scored


def _number(value: float) -> str:
    return f"{value:g}"


def _priority_text(score: ScoreParts) -> str:
    return (
        f"priority = propensity {_number(score.propensity)} × context weight "
        f"{_number(score.context_weight)} × value {_number(score.value)} × lever "
        f"{_number(score.lever)} = {_number(score.priority)}"
    )


def _consent_note(action: Action, channel: Channel) -> str:
    if channel.needs_consent:
        return f"consent granted for {action.purpose} on {channel.value}"
    return f"no consent needed on {channel.value}"


def arbitrate(
    scored: Sequence[Scored], budget: ContactBudget, *, max_actions: int
) -> tuple[list[RankedAction], list[ExcludedAction]]:
    """The top `max_actions` by priority, each on its first channel the contact limits
    still allow once the better-ranked ones took theirs; the others excluded."""
    ranked: list[RankedAction] = []
    excluded: list[ExcludedAction] = []
    for item in sorted(scored, key=lambda s: (-s.score.priority, s.candidate.action.name)):
        action = item.candidate.action
        if len(ranked) == max_actions:
            text = f"Ranked below the top {max_actions}: {_priority_text(item.score)}."
            excluded.append(
                ExcludedAction(action.name, ExclusionReason.OUTRANKED, text, score=item.score)
            )
            continue
        chosen = next(
            (c for c in item.candidate.channels if budget.blocking(c, action.purpose) is None),
            None,
        )
        if chosen is None:
            limits = "; ".join(
                f"{c.value}: {limit.describe()}"
                for c in item.candidate.channels
                if (limit := budget.blocking(c, action.purpose)) is not None
            )
            text = f"Better-ranked actions took the last contacts allowed: {limits}."
            excluded.append(ExcludedAction(action.name, ExclusionReason.CONTACT_LIMIT, text))
            continue
        budget.take(chosen, action.purpose)
        rank = len(ranked) + 1
        notes = "; ".join([*item.candidate.notes, _consent_note(action, chosen), item.note])
        ranked.append(
            RankedAction(
                action=action.name,
                rank=rank,
                priority=item.score.priority,
                score=item.score,
                probability=GREEDY_PROBABILITY,
                channel=chosen,
                explanation=f"Ranked {rank} on {chosen.value}: {notes}; "
                f"{_priority_text(item.score)}.",
            )
        )
    return ranked, excluded
