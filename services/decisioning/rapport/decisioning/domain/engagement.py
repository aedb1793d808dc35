"""The engagement-policy step: scope, validity window, channel, then the eligibility,
applicability and suitability rules of the action's group and of the action."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import DecisionConfig
from .model import Action, ActionGroup, Channel, ExcludedAction, ExclusionReason
from .rules import ActionVariable, RuleEnvironment, RuleEvaluationError

RULE_KINDS = (
    ("eligibility", ExclusionReason.NOT_ELIGIBLE),
    ("applicability", ExclusionReason.NOT_APPLICABLE),
    ("suitability", ExclusionReason.NOT_SUITABLE),
)


@dataclass(frozen=True)
class Candidate:
    """An action still in the running, on the channels still open to it."""

    action: Action
    group: ActionGroup | None
    # In the action's order (only the requested one when a channel was asked for).
    channels: tuple[Channel, ...]
    # Why it got this far, in words, one fragment per step.
    notes: tuple[str, ...]
    # What rules see as `action` (built once per configuration; None: build it).
    variable: Mapping[str, Any] | None = None


def action_variable(action: Action, group: ActionGroup | None) -> dict[str, Any]:
    """What rules see as `action`."""
    return {
        "name": action.name,
        "id": action.action_id,
        "group": action.group_name,
        "issue": group.issue if group is not None else "",
        "tags": list(action.tags),
        "channels": [channel.value for channel in action.channels],
        "purpose": action.purpose,
        "value": action.value,
    }


def configured_variable(
    config: DecisionConfig, action: Action, group: ActionGroup | None
) -> ActionVariable:
    """The action's `action` variable, built once per configuration version."""
    key = ("action_variable", action.action_id)
    found = config.derived.get(key)
    if found is None:
        found = config.derived[key] = ActionVariable(action_variable(action, group))
    return found


def _excluded(action: Action, reason: ExclusionReason, text: str) -> ExcludedAction:
    return ExcludedAction(action.name, reason, text)


def _window_text(action: Action, now: datetime) -> str:
    if action.start_time is not None and now < action.start_time:
        return f"Offered only from {action.start_time.isoformat()}."
    assert action.end_time is not None
    return f"Offered only until {action.end_time.isoformat()}."


def _rules(action: Action, group: ActionGroup | None) -> Iterable[tuple[str, str, str]]:
    """(kind, owner in words, expression) in evaluation order: kind by kind, group first."""
    for kind, _ in RULE_KINDS:
        if group is not None:
            yield kind, f"of group {group.group_id} ", getattr(group, kind).strip()
        yield kind, "", getattr(action, kind).strip()


_REASONS = dict(RULE_KINDS)


def _configured_rules(
    config: DecisionConfig, action: Action, group: ActionGroup | None
) -> tuple[tuple[tuple[str, str, str], ...], str]:
    """The action's non-empty rules in evaluation order and the note saying they all
    held, built once per configuration version."""
    key = ("rules", action.action_id)
    found = config.derived.get(key)
    if found is None:
        rules = tuple((kind, owner, rule) for kind, owner, rule in _rules(action, group) if rule)
        held = ", ".join(f"{kind} rule {owner}`{rule}` is true" for kind, owner, rule in rules)
        found = config.derived[key] = (rules, held or "no eligibility rule")
    return found


@dataclass(frozen=True)
class _Prepared:
    """What engagement needs of one action, derived once per configuration version."""

    action: Action
    group: ActionGroup | None
    variable: ActionVariable
    # (kind, owner in words, expression, the exclusion when it is false)
    rules: tuple[tuple[str, str, str, ExcludedAction], ...]
    held: str
    # The candidate on the action's own channels (the same for every decision).
    candidate: Candidate
    # The expressions in evaluation order: actions sharing them (most share their
    # group's and a few action rules) share the rules' outcome when none reads `action`.
    expressions: tuple[str, ...]


def _prepared(config: DecisionConfig) -> tuple[_Prepared, ...]:
    found = config.derived.get("engagement")
    if found is None:
        items = []
        for action in config.actions:
            group = config.group(action.group_id)
            variable = configured_variable(config, action, group)
            rules, held = _configured_rules(config, action, group)
            falsified = tuple(
                (
                    kind,
                    owner,
                    rule,
                    _excluded(
                        action,
                        _REASONS[kind],
                        f"{kind.capitalize()} rule {owner}`{rule}` is false.",
                    ),
                )
                for kind, owner, rule in rules
            )
            candidate = Candidate(action, group, action.channels, (held,), variable)
            expressions = tuple(rule for _, _, rule in rules)
            items.append(
                _Prepared(action, group, variable, falsified, held, candidate, expressions)
            )
        found = config.derived["engagement"] = tuple(items)
    return found


# The outcome of an action's rules: the position of the first that is not true (-1 when
# they all hold) and its error when it failed.
_Outcome = tuple[int, RuleEvaluationError | None]
_ALL_HELD: _Outcome = (-1, None)


def _first_not_true(
    env: RuleEnvironment, variable: Mapping[str, Any], expressions: tuple[str, ...]
) -> _Outcome:
    known = env.results
    for position, rule in enumerate(expressions):
        result = known.get(rule)
        if result is True:
            continue
        if result is False:
            return position, None
        try:
            result = env.evaluate(rule, variable)
        except RuleEvaluationError as err:
            return position, err
        if not result:
            return position, None
    return _ALL_HELD


def _screened(item: _Prepared, outcome: _Outcome) -> ExcludedAction | None:
    """The exclusion an outcome of the action's rules causes; None when they all held."""
    position, err = outcome
    if position < 0:
        return None
    kind, owner, rule, falsified = item.rules[position]
    if err is None:
        return falsified
    text = f"{kind.capitalize()} rule {owner}`{rule}` failed: {err}."
    return _excluded(item.action, ExclusionReason.RULE_ERROR, text)


def engage(
    config: DecisionConfig,
    env: RuleEnvironment,
    *,
    now: datetime,
    requested_channel: Channel | None,
    scope: str | None,
) -> tuple[list[Candidate], list[ExcludedAction]]:
    """Every action of `config` as a candidate or an exclusion; `scope` keeps one action id."""
    candidates: list[Candidate] = []
    excluded: list[ExcludedAction] = []
    shared: dict[tuple[str, ...], _Outcome] = {}
    for item in _prepared(config):
        action = item.action
        if scope is not None and action.action_id != scope:
            excluded.append(
                _excluded(action, ExclusionReason.OUT_OF_SCOPE, "Not the trigger's action.")
            )
            continue
        if (action.start_time is not None or action.end_time is not None) and not (
            action.in_window(now)
        ):
            excluded.append(
                _excluded(action, ExclusionReason.OUT_OF_WINDOW, _window_text(action, now))
            )
            continue
        if requested_channel is not None and requested_channel not in action.channels:
            offered = ", ".join(c.value for c in action.channels)
            text = f"Not offered on {requested_channel.value} (only {offered})."
            excluded.append(_excluded(action, ExclusionReason.CHANNEL_MISMATCH, text))
            continue
        if item.rules:
            expressions = item.expressions
            outcome = shared.get(expressions)
            if outcome is None:
                outcome = _first_not_true(env, item.variable, expressions)
                # Decided by rules kept for the decision (none reads `action`): the same
                # for every action with these expressions.
                decided_by = expressions[: outcome[0] + 1] if outcome[0] >= 0 else expressions
                if all(rule in env.results for rule in decided_by):
                    shared[expressions] = outcome
            screened = _screened(item, outcome)
            if screened is not None:
                excluded.append(screened)
                continue
        if requested_channel is None:
            candidates.append(item.candidate)
        else:
            candidates.append(
                Candidate(action, item.group, (requested_channel,), (item.held,), item.variable)
            )
    return candidates, excluded
