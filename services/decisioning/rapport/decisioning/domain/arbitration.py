"""The last steps of a decision: consent, scoring and arbitration.

Priority = propensity × context weight × value × levers, each part switched on or
off by the workspace's ArbitrationSettings (a part switched off counts as 1). Ties
are broken by the action's name, so the same inputs always rank the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from . import score_plan
from .config import DecisionConfig
from .contact_policy import ContactBudget
from .engagement import Candidate
from .learning import PositionChances
from .model import Action, Channel, ExcludedAction, ExclusionReason, RankedAction, ScoreParts
from .policies import ArbitrationSettings, PriorityPart
from .rules import RuleEnvironment

# Greedy ranking is deterministic: each action is chosen with certainty.
GREEDY_PROBABILITY = 1.0

ConsentPair = tuple[str, Channel]  # (purpose, channel)


class PropensityModel(Protocol):
    """Scores how likely the customer is to take an action up (the model step plugs in here)."""

    def propensity(self, action: Action) -> tuple[float, str]:
        """The propensity in [0, 1] and, in words, where it comes from."""
        ...


@dataclass(frozen=True)
class Propensities:
    """A model's propensities for several actions at once, in their order."""

    values: Sequence[float]
    source: str
    # Further posterior draws, shape (draws, actions), when the model samples (Thompson
    # sampling): the probability of each position is estimated over them.
    samples: np.ndarray | None = None


@runtime_checkable
class BatchPropensityModel(Protocol):
    """A model scoring every candidate at once (vectorised)."""

    def propensities(self, actions: Sequence[Action]) -> Propensities: ...


class BasePropensity:
    """The action's own base propensity, until a model scores it."""

    def propensity(self, action: Action) -> tuple[float, str]:
        return action.base_propensity, "base propensity"


class Scored(NamedTuple):
    # A named tuple: one per candidate of every decision, built cheaply; never changed.
    candidate: Candidate
    score: ScoreParts
    # Where the score comes from, in words: fragments joined only for a ranked action.
    notes: tuple[str, ...]
    # Sampled propensities: the chances of the candidates' positions, computed only for
    # those asked (ranked); None for a deterministic score.
    chances: PositionChances | None = None
    # The candidate's index among those `chances` covers.
    index: int = 0

    @property
    def probability(self) -> float:
        """The probability that the action holds its position in the priority order."""
        if self.chances is None:
            return GREEDY_PROBABILITY
        return self.chances.of(self.index)


def consent_pairs(candidates: Iterable[Candidate]) -> list[ConsentPair]:
    """The distinct (purpose, channel) pairs to check, in first-seen order."""
    pairs: dict[ConsentPair, None] = {}
    seen: set[tuple[str, tuple[Channel, ...]]] = set()
    for candidate in candidates:
        purpose, channels = candidate.action.purpose, candidate.channels
        if (purpose, channels) in seen:
            continue  # most candidates share a purpose and channels with an earlier one
        seen.add((purpose, channels))
        for channel in channels:
            if channel.needs_consent:
                pairs[(purpose, channel)] = None
    return list(pairs)


def configured_pairs(
    config: DecisionConfig, requested_channel: Channel | None
) -> tuple[ConsentPair, ...]:
    """Every pair a candidate of `config` could need consent for (a candidate keeps its
    action's channels, or only the requested one): asked for before the candidates are
    known. Kept with the configuration."""
    key = ("consent_pairs", requested_channel)
    found = config.derived.get(key)
    if found is None:
        pairs: dict[ConsentPair, None] = {}
        for action in config.actions:
            channels = action.channels
            if requested_channel is not None:
                channels = (requested_channel,) if requested_channel in channels else ()
            for channel in channels:
                if channel.needs_consent:
                    pairs[(action.purpose, channel)] = None
        found = config.derived[key] = tuple(pairs)
    return found


def filter_consent(
    candidates: Sequence[Candidate], consent: Mapping[ConsentPair, bool]
) -> tuple[list[Candidate], list[ExcludedAction]]:
    """Candidates on the channels they have consent for; a pair not answered is refused."""
    kept: list[Candidate] = []
    excluded: list[ExcludedAction] = []
    # The channels allowed for (purpose, channels): most candidates repeat one.
    known: dict[tuple[str, tuple[Channel, ...]], tuple[Channel, ...]] = {}
    for candidate in candidates:
        purpose = candidate.action.purpose
        key = (purpose, candidate.channels)
        allowed = known.get(key)
        if allowed is None:
            allowed = known[key] = tuple(
                c
                for c in candidate.channels
                if not c.needs_consent or consent.get((purpose, c), False)
            )
        if not allowed:
            tried = ", ".join(c.value for c in candidate.channels)
            text = f"No consent for {purpose} on {tried}."
            excluded.append(ExcludedAction(candidate.action.name, ExclusionReason.NO_CONSENT, text))
            continue
        if allowed == candidate.channels:
            kept.append(candidate)
        else:
            kept.append(
                Candidate(
                    candidate.action, candidate.group, allowed, candidate.notes, candidate.variable
                )
            )
    return kept, excluded


def _batch_model(model: PropensityModel) -> BatchPropensityModel | None:
    """The model as a BatchPropensityModel when it is one: what isinstance against the
    runtime-checkable protocol decides (the method is there), without its cost."""
    return model if callable(getattr(model, "propensities", None)) else None  # type: ignore[return-value]


_new_tuple = tuple.__new__


def score(
    candidates: Sequence[Candidate],
    settings: ArbitrationSettings,
    env: RuleEnvironment,
    model: PropensityModel,
    kept: dict[Any, score_plan.Plan] | None = None,
) -> list[Scored]:
    """Each candidate's score parts and notes. `kept`: the score plans of the candidates'
    configuration (see score_plan), found there or added."""
    use_propensity = PriorityPart.PROPENSITY in settings.priority_parts
    batch_model = _batch_model(model)
    samples = None
    # Each candidate's own propensity note, when the model's sources differ between them
    # (the plan then holds the other notes only).
    own_heads: list[str] | None = None
    if batch_model is None:
        found = [model.propensity(c.action) for c in candidates]
        values = [propensity for propensity, _ in found]
        sources = {source for _, source in found}
        if len(sources) > 1:
            own_heads = [f"propensity from {source}" for _, source in found]
            head: tuple[str, ...] = ()
        else:
            head = tuple(f"propensity from {source}" for source in sources)
    else:
        batch = batch_model.propensities([c.action for c in candidates])
        values = np.asarray(batch.values, dtype=float).tolist()
        head = (f"propensity from {batch.source}",)
        samples = batch.samples
    made = score_plan.plan(candidates, settings, env, head, kept)
    notes = [part.notes for part in made.parts]
    if own_heads is not None:
        notes = [(own, *rest) for own, rest in zip(own_heads, notes, strict=True)]
    chances = None
    if not use_propensity:
        values = [1.0] * len(candidates)
    elif samples is not None:
        chances = PositionChances(
            np.array(values, dtype=float), samples, made.multipliers(), list(made.names)
        )
    # Two named tuples per candidate of every decision: built by tuple.__new__, without
    # their generated __new__ (a Python call each). A test holds them equal.
    return [
        _new_tuple(
            Scored,
            (
                candidate,
                _new_tuple(ScoreParts, (propensity, part.context_weight, part.value, part.lever)),
                part_notes,
                chances,
                index if chances is not None else 0,
            ),
        )
        for index, (candidate, propensity, part, part_notes) in enumerate(
            zip(candidates, values, made.parts, notes, strict=True)
        )
    ]


# The text of the factors that repeat across decisions (context weight, value, lever),
# by their values: formatted once. Bounded: cleared when full.
_FACTOR_TEXTS: dict[tuple[float, ...], str] = {}
_FACTOR_TEXTS_MAX = 4096


def _factors_text(score: ScoreParts) -> str:
    factors = score[1:]
    found = _FACTOR_TEXTS.get(factors)
    if found is None:
        if len(_FACTOR_TEXTS) >= _FACTOR_TEXTS_MAX:
            _FACTOR_TEXTS.clear()
        weight, value, lever = factors
        found = f" × context weight {weight:g} × value {value:g} × lever {lever:g} = "
        # Not kept: NaN (never found again, NaN != NaN) and zero (-0.0 and 0.0 are one
        # key but two texts).
        if all(factor and factor == factor for factor in factors):
            _FACTOR_TEXTS[factors] = found
    return found


def _priority_text(score: ScoreParts, priority: float | None = None) -> str:
    # Each part in the `:g` format, as in context weight notes; written for every outranked
    # action of every decision, so the factors that repeat come from _factors_text.
    total = score.priority if priority is None else priority
    return f"priority = propensity {score.propensity:g}{_factors_text(score)}{total:g}"


def outranked_explanation(
    max_actions: int, score: ScoreParts, priority: float | None = None
) -> str:
    """Why an action ranked below the top `max_actions` was left out: it follows from the
    number asked for and its score parts (so a stored decision can leave it out).
    `priority`: score.priority when the caller has it already."""
    return f"Ranked below the top {max_actions}: {_priority_text(score, priority)}."


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
    # By priority, then name; names are unique, so the index after them never decides
    # (it only finds the item again).
    keyed = sorted(
        [
            (-item.score.priority, item.candidate.action.name, index)
            for index, item in enumerate(scored)
        ]
    )
    position = 0
    for _, _, index in keyed:
        if len(ranked) == max_actions:
            break
        position += 1
        item = scored[index]
        action = item.candidate.action
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
        notes = "; ".join([*item.candidate.notes, _consent_note(action, chosen), *item.notes])
        ranked.append(
            RankedAction(
                action=action.name,
                rank=rank,
                priority=item.score.priority,
                score=item.score,
                probability=item.probability,
                channel=chosen,
                explanation=f"Ranked {rank} on {chosen.value}: {notes}; "
                f"{_priority_text(item.score)}.",
            )
        )
    # Every action left is outranked: outranked_explanation's text, its head built once.
    head = f"Ranked below the top {max_actions}: priority = propensity "
    for negated, name, index in keyed[position:]:
        parts = scored[index].score
        text = f"{head}{parts[0]:g}{_factors_text(parts)}{-negated:g}."
        excluded.append(outranked_action(name, text, parts))
    return ranked, excluded


_new_object = object.__new__
_OUTRANKED = ExclusionReason.OUTRANKED


def outranked_action(name: str, text: str, score: ScoreParts) -> ExcludedAction:
    """ExcludedAction(name, OUTRANKED, text, score, True): built for most actions of every
    decision, without the frozen dataclass's __init__ (one object.__setattr__ per field,
    twice the cost). A test holds the two equal, field for field."""
    excluded = _new_object(ExcludedAction)
    excluded.__dict__.update(
        action=name, reason=_OUTRANKED, explanation=text, score=score, standard_text=True
    )
    return excluded
