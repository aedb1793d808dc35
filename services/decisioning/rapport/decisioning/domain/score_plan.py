"""The parts of the candidates' scores that do not depend on their propensities: each one's
context weight (with its notes), value and lever, and what they multiply the propensity by.

Worked out per candidate for a decision; kept with the configuration (its `derived`
values) when they follow from it and the decision's own rule results alone, for the next
decisions scoring the same candidates: most decisions of a workspace do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any, NamedTuple

import numpy as np

from .engagement import Candidate, action_variable
from .policies import ArbitrationSettings, PriorityPart
from .rules import ActionVariable, RuleEnvironment, RuleEvaluationError

# Plans kept per configuration (candidate lists × decision results); cleared when full.
MAX_PLANS = 256

# (condition, weight, the note when it holds, position) of each context weight.
WeightRule = tuple[str, float, str, int]


class Fixed(NamedTuple):
    context_weight: float
    value: float
    lever: float
    # The notes of the score: the propensity's (the plan's head), then the others'.
    notes: tuple[str, ...]


class Plan:
    """The fixed parts of a candidate list's scores, in its order."""

    __slots__ = ("_multipliers", "names", "parts")

    def __init__(self, parts: tuple[Fixed, ...], names: tuple[str, ...]) -> None:
        self.parts = parts
        self.names = names
        self._multipliers: np.ndarray | None = None

    def multipliers(self) -> np.ndarray:
        """context weight × value × lever per candidate (never changed once built)."""
        if self._multipliers is None:
            multipliers = np.array(
                [p.context_weight * p.value * p.lever for p in self.parts], dtype=float
            )
            multipliers.flags.writeable = False  # shared by the decisions using the plan
            self._multipliers = multipliers
        return self._multipliers


def weight_rules(settings: ArbitrationSettings) -> tuple[WeightRule, ...]:
    return tuple(
        (
            rule.condition,
            rule.weight,
            f"context weight {rule.weight:g} for `{rule.condition}`",
            index,
        )
        for index, rule in enumerate(settings.context_weights)
    )


_NOTHING_KEPT: Mapping[str, bool] = {}


def _weigh(
    rules: Sequence[WeightRule], env: RuleEnvironment, variable: Mapping[str, Any]
) -> tuple[float, tuple[str, ...]]:
    weight = 1.0
    notes: list[str] = []
    known = env.results
    # An action-only rule's result, kept on the action's variable across decisions.
    kept = variable.only if type(variable) is ActionVariable else _NOTHING_KEPT
    for condition, rule_weight, note, index in rules:
        result = known.get(condition)
        if result is None:
            result = kept.get(condition)
        if result is True or result is False:
            if result:
                weight *= rule_weight
                notes.append(note)
            continue
        try:
            if env.evaluate(condition, variable):
                weight *= rule_weight
                notes.append(note)
        except RuleEvaluationError as err:
            notes.append(f"context weight rule {index + 1} failed ({err}), not applied")
    return weight, tuple(notes)


def _variable(candidate: Candidate) -> Mapping[str, Any]:
    variable = candidate.variable
    return variable if variable is not None else action_variable(candidate.action, candidate.group)


def _decision_results(
    rules: Sequence[WeightRule], env: RuleEnvironment, first: Candidate
) -> tuple[bool | None, ...] | None:
    """Each rule's result for the whole decision (None: it reads `action`), evaluated now
    if need be (as weighing the first candidate would); None when one failed."""
    known = env.results
    results: list[bool | None] = []
    for condition, _, _, _ in rules:
        if condition not in known:
            # A failure is kept for the decision too when the rule does not read `action`.
            with suppress(RuleEvaluationError):
                env.evaluate(condition, _variable(first))
        result = known.get(condition)
        if result is not None and result is not True and result is not False:
            return None  # a failure: its text is the decision's own
        results.append(result)
    return tuple(results)


def _compute(
    candidates: Sequence[Candidate],
    rules: Sequence[WeightRule],
    env: RuleEnvironment,
    settings: ArbitrationSettings,
    head: tuple[str, ...],
) -> tuple[tuple[Fixed, ...], bool]:
    """The fixed parts, and whether they may be kept: every rule's result came from the
    decision's results or the action's own (an action-only rule)."""
    parts = settings.priority_parts
    unused = [p.value for p in PriorityPart if p not in parts]
    tail = (f"{', '.join(unused)} not used by the arbitration settings",) if unused else ()
    use_value = PriorityPart.VALUE in parts
    use_lever = PriorityPart.LEVER in parts
    keepable = True
    # The weight and notes every candidate gets when no weight rule reads `action`.
    shared: tuple[float, tuple[str, ...]] | None = None
    weighed = False
    fixed: list[Fixed] = []
    for candidate in candidates:
        action = candidate.action
        weight, notes = 1.0, head
        if rules:
            if shared is not None:
                weight, weight_notes = shared
            else:
                variable = _variable(candidate)
                weight, weight_notes = _weigh(rules, env, variable)
                if not weighed:
                    # A rule reading `action` is never kept for the decision: whether
                    # the weight is shared is settled by the first candidate.
                    weighed = True
                    if all(rule[0] in env.results for rule in rules):
                        shared = weight, weight_notes
                if shared is None and keepable:
                    own = variable.only if type(variable) is ActionVariable else _NOTHING_KEPT
                    keepable = all(r[0] in env.results or r[0] in own for r in rules)
            if weight_notes:
                notes = (*notes, *weight_notes)
        if tail:
            notes = (*notes, *tail)
        group = candidate.group
        fixed.append(
            Fixed(
                weight,
                action.value if use_value else 1.0,
                (action.lever * group.lever if group is not None else action.lever)
                if use_lever
                else 1.0,
                notes,
            )
        )
    return tuple(fixed), keepable


def plan(
    candidates: Sequence[Candidate],
    settings: ArbitrationSettings,
    env: RuleEnvironment,
    head: tuple[str, ...],
    kept: dict[Any, Plan] | None = None,
) -> Plan:
    """The candidates' fixed parts, their notes starting with `head`. `kept`: the plans
    of the configuration the candidates come from (found there, or added)."""
    use_weights = PriorityPart.CONTEXT_WEIGHT in settings.priority_parts and bool(
        settings.context_weights
    )
    rules = weight_rules(settings) if use_weights else ()
    names = tuple(c.action.name for c in candidates)
    key = None
    if kept is not None and candidates:
        results = _decision_results(rules, env, candidates[0]) if rules else ()
        if results is not None:
            key = (names, settings, head, results)
            found = kept.get(key)
            if found is not None:
                return found
    fixed, keepable = _compute(candidates, rules, env, settings, head)
    made = Plan(fixed, names)
    if kept is not None and key is not None and keepable:
        if len(kept) >= MAX_PLANS:
            kept.clear()
        kept[key] = made
    return made
