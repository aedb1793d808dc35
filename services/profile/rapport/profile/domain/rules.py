"""CEL rules of segments and life stages: compiled once per text, checked when saved.

A rule reads ``traits`` (trait values by key), ``computed_traits`` (by key),
``life_stage`` (a string, empty for none) and ``now`` (a timestamp), and may call
``days_since(x)`` / ``days_until(x)`` (whole days from / to ``now`` of a date or
date-time trait value or a timestamp). A rule that fails on a profile (a missing
key, a value of another type) does not match it.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cel
from rapport.celrules import RuleSyntaxError, compile_checked, is_panic

from .dates import value_time

SEGMENT_VARIABLES = frozenset({"traits", "computed_traits", "life_stage", "now"})
LIFE_STAGE_VARIABLES = frozenset({"traits", "computed_traits", "now"})
TIME_FUNCTIONS = frozenset({"days_since", "days_until"})
# `x.key` or `x["key"]`: a key named. Not a method or macro on the map (`x.exists(k,
# ...)`, `x.size()`: the whole map), nor a quoted key with an escape (its text is not
# the key): those count as reading the variable whole.
_KEY_PATTERN = (
    r"(?<![\w.]){}\s*(?:\.\s*([A-Za-z_]\w*)\b(?!\s*\()"
    r"|\[\s*(['\"])((?:(?!\2)[^\\])*)\2\s*\])"
)
_TRAIT_KEY = re.compile(_KEY_PATTERN.format("traits"))
_COMPUTED_KEY = re.compile(_KEY_PATTERN.format("computed_traits"))
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Rule:
    text: str
    program: Any
    variables: frozenset[str]
    # Reads now or a days_* helper: the answer changes with time alone.
    time_dependent: bool
    # The trait keys the rule names (None: it reads `traits` as a whole).
    trait_keys: frozenset[str] | None
    # The computed trait keys the rule names (None: it reads `computed_traits` whole).
    computed_keys: frozenset[str] | None = None


@dataclass(frozen=True)
class FactChange:
    """What changed of one customer's facts, as rules read them."""

    trait_keys: Collection[str] = ()
    # Whether computed trait values changed; ``computed_keys`` names them (None: any).
    computed: bool = False
    computed_keys: Collection[str] | None = None
    life_stage: bool = False
    # A customer rules have not seen yet, or one merged: every rule.
    everything: bool = False


class RuleIndex:
    """The rules of a sequence (segments, stages) by what they name: the trait keys and
    computed trait keys, the life stage. A change selects only the rules it can affect;
    a rule reading a variable whole (``"k" in traits``, ``size(computed_traits)``) is
    selected by any change of that variable. Time alone is not a change here: rules
    that depend on it are re-evaluated on their schedule."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._all = tuple(range(len(self.rules)))
        self._by_trait: dict[str, list[int]] = {}
        self._any_trait: list[int] = []
        self._by_computed: dict[str, list[int]] = {}
        self._any_computed: list[int] = []
        self._computed: list[int] = []
        self._stage: list[int] = []
        self._reads: dict[tuple[int, ...], Reads] = {}
        for i, rule in enumerate(self.rules):
            if "traits" in rule.variables:
                _index(i, rule.trait_keys, self._by_trait, self._any_trait)
            if "computed_traits" in rule.variables:
                self._computed.append(i)
                _index(i, rule.computed_keys, self._by_computed, self._any_computed)
            if "life_stage" in rule.variables:
                self._stage.append(i)

    def reads(self, positions: Sequence[int]) -> Reads:
        """What the rules at these positions read (kept: batches repeat a few sets)."""
        key = tuple(positions)
        found = self._reads.get(key)
        if found is None:
            found = self._reads[key] = Reads.of(self.rules[i] for i in key)
        return found

    def affected(self, change: FactChange) -> Sequence[int]:
        """Positions (in order) of the rules the change may give another answer."""
        if change.everything:
            return self._all
        found: set[int] = set()
        if change.trait_keys:
            found.update(self._any_trait)
            for key in change.trait_keys:
                found.update(self._by_trait.get(key, ()))
        if change.computed:
            if change.computed_keys is None:
                found.update(self._computed)
            else:
                found.update(self._any_computed)
                for key in change.computed_keys:
                    found.update(self._by_computed.get(key, ()))
        if change.life_stage:
            found.update(self._stage)
        return sorted(found)


def _index(
    position: int, keys: frozenset[str] | None, by_key: dict[str, list[int]], whole: list[int]
) -> None:
    if keys is None:
        whole.append(position)
        return
    for key in keys:
        by_key.setdefault(key, []).append(position)


def _named_keys(
    text: str, reads: bool, pattern: re.Pattern[str], variable: str
) -> frozenset[str] | None:
    if not reads:
        return frozenset()
    keys: set[str] = set()
    for match in pattern.finditer(text):
        keys.add(match.group(1) or match.group(3))
    # The variable used otherwise (x.size(), "k" in x, x[some_expr]...): all of it.
    uses = len(re.findall(rf"(?<![\w.]){variable}\b", text))
    return frozenset(keys) if uses == len(pattern.findall(text)) else None


def _trait_keys(text: str, reads_traits: bool) -> frozenset[str] | None:
    return _named_keys(text, reads_traits, _TRAIT_KEY, "traits")


class RuleCompiler:
    """Compiles rules and keeps the programs, keyed by their text (bounded)."""

    def __init__(self, max_rules: int = 4096) -> None:
        self._rules: OrderedDict[tuple[str, frozenset[str]], Rule] = OrderedDict()
        self._max_rules = max_rules

    def compile(self, text: str, variables: Collection[str] = SEGMENT_VARIABLES) -> Rule:
        """The compiled rule; RuleSyntaxError (with the position) when it cannot be used."""
        key = (text, frozenset(variables))
        rule = self._rules.get(key)
        if rule is not None:
            self._rules.move_to_end(key)
            return rule
        rule = _compile(text, frozenset(variables))
        self._rules[key] = rule
        if len(self._rules) > self._max_rules:
            self._rules.popitem(last=False)
        return rule


def _compile(text: str, allowed: frozenset[str]) -> Rule:
    if not text.strip():
        raise RuleSyntaxError("is empty")
    program = compile_checked(text, allowed, TIME_FUNCTIONS)
    variables = frozenset(program.variables())
    functions = list(program.functions())
    # Computed traits expire as their window slides: rules reading them depend on time.
    time_dependent = (
        "now" in variables
        or "computed_traits" in variables
        or any(f in TIME_FUNCTIONS for f in functions)
    )
    return Rule(
        text,
        program,
        variables,
        time_dependent,
        _trait_keys(text, "traits" in variables),
        _named_keys(text, "computed_traits" in variables, _COMPUTED_KEY, "computed_traits"),
    )


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = value_time(value)
    if moment is None:
        raise ValueError("not a date, a date-time or a timestamp")
    return moment


def time_helpers(now: datetime) -> dict[str, Callable[[Any], int]]:
    """days_since / days_until, as whole days (floor) relative to ``now``."""

    def days_since(value: Any) -> int:
        return math.floor((now - _instant(value)).total_seconds() / _SECONDS_PER_DAY)

    def days_until(value: Any) -> int:
        return math.floor((_instant(value) - now).total_seconds() / _SECONDS_PER_DAY)

    return {"days_since": days_since, "days_until": days_until}


@dataclass(frozen=True)
class Facts:
    """What rules read of one customer."""

    traits: Mapping[str, Any]
    computed_traits: Mapping[str, Any]
    life_stage: str = ""


@dataclass(frozen=True)
class Reads:
    """What some rules read of a customer: the variables, and the keys of its traits
    and computed traits (None: the whole map)."""

    variables: frozenset[str]
    trait_keys: frozenset[str] | None
    computed_keys: frozenset[str] | None

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> Reads:
        variables: set[str] = set()
        trait_keys: set[str] | None = set()
        computed_keys: set[str] | None = set()
        for rule in rules:
            variables |= rule.variables
            if trait_keys is not None and "traits" in rule.variables:
                trait_keys = None if rule.trait_keys is None else trait_keys | rule.trait_keys
            if computed_keys is not None and "computed_traits" in rule.variables:
                computed_keys = (
                    None if rule.computed_keys is None else computed_keys | rule.computed_keys
                )
        return cls(
            frozenset(variables),
            None if trait_keys is None else frozenset(trait_keys),
            None if computed_keys is None else frozenset(computed_keys),
        )

    def narrowed(self, facts: Facts) -> Facts:
        """The facts with only the keys these rules name (the same answers: a rule
        naming its keys reads no other; CEL converts every value it is given)."""
        return Facts(
            _only(facts.traits, self.trait_keys),
            _only(facts.computed_traits, self.computed_keys),
            facts.life_stage,
        )


def _only(values: Mapping[str, Any], keys: frozenset[str] | None) -> Mapping[str, Any]:
    if keys is None:
        return values
    return {key: values[key] for key in keys if key in values}


class Evaluator:
    """Evaluates rules for customers at one ``now`` (helpers made once)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._functions = time_helpers(now)

    def matches(self, rule: Rule, facts: Facts) -> bool:
        """True when the rule yields true; false when it yields anything else or fails."""
        return self.judge(facts, rule.variables)(rule)

    def judge(
        self, facts: Facts, variables: Collection[str] = SEGMENT_VARIABLES
    ) -> Callable[[Rule], bool]:
        """``judge(facts)(rule)``: the customer's facts converted for CEL once, for all
        the rules evaluated for that customer (``variables``: the names they read)."""
        context: Any = None

        def matches(rule: Rule) -> bool:
            nonlocal context
            try:
                if context is None:
                    values: dict[str, Any] = {}
                    if "traits" in variables:
                        values["traits"] = dict(facts.traits)
                    if "computed_traits" in variables:
                        values["computed_traits"] = dict(facts.computed_traits)
                    if "life_stage" in variables:
                        values["life_stage"] = facts.life_stage
                    if "now" in variables:
                        values["now"] = self.now
                    context = cel.Context(variables=values, functions=self._functions)
                result = rule.program.execute(context)
            except Exception:  # a missing key, a type mismatch, a helper's ValueError...
                return False
            except BaseException as err:
                if not is_panic(err):
                    raise
                return False
            return result is True

        return matches
