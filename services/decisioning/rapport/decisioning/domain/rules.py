"""Engagement rules in CEL: compiled once per expression, checked when saved, evaluated to a bool.

A RuleEnvironment holds one decision's variables, converted for CEL once; the
`action` variable is resolved lazily per action, and the result of a rule that
does not read `action` is kept for the decision (a group's rule is evaluated
once, not once per action).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import cel
from rapport.celrules import (
    MAX_RULE_CHARS,
    RuleSyntaxError,
    check_may_be_bool,
    check_names,
    compile_located,
    describe,
    is_panic,
)

MAX_EXPRESSION_CHARS = MAX_RULE_CHARS

# What each kind of rule may name at its top level.
ENGAGEMENT_VARIABLES = frozenset({"profile", "context", "action"})
CONDITION_VARIABLES = frozenset({"event", "profile"})


class RuleEvaluationError(Exception):
    """The expression failed at evaluation time or did not yield a bool."""


ACTION_RESULTS = 16384
# A call of a rule helper (days_until, years_since...): its result depends on the day.
_HELPER_CALL = re.compile(r"\b(days_until|days_since|years_since|add_years)\s*\(")


def _frozen(value: Any) -> Any:
    """A hashable copy of a rule variable (dicts, lists, scalars)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


class ActionVariable(dict[str, Any]):
    """An `action` variable built once per action of a configuration: its hashable copy
    (the key of action-only results) is computed once, not once per rule and decision.
    Never changed once built."""

    __slots__ = ("_key", "only")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Results of action-only rules for this action, by expression (valid as long as
        # the variable: it is rebuilt with each configuration version).
        self.only: dict[str, bool] = {}

    def key(self) -> Any:
        try:
            return self._key
        except AttributeError:
            self._key = _frozen(self)
            return self._key


@dataclass(frozen=True)
class CompiledRule:
    program: Any
    reads_action: bool
    # Reads `action` and nothing else, calls no helper: its result depends on the
    # action alone, so it is kept per action across decisions.
    action_only: bool = False


class RuleBook:
    """Compiles CEL expressions and keeps the programs, keyed by their text.

    Keyed by text (not by action) so an action replaced with the same rule
    keeps its program and a changed rule gets a new one.
    """

    def __init__(self, max_programs: int = 4096) -> None:
        self._programs: OrderedDict[str, CompiledRule] = OrderedDict()
        self._max_programs = max_programs
        # Results of action-only rules by (expression, the action variable's content).
        self.action_results: OrderedDict[tuple[Any, ...], bool] = OrderedDict()

    def compiled(self, expression: str) -> CompiledRule:
        compiled = self._programs.get(expression)
        if compiled is not None:
            self._programs.move_to_end(expression)
            return compiled
        program = compile_located(expression)
        variables = set(program.variables())
        reads_action = "action" in variables
        action_only = variables == {"action"} and not _HELPER_CALL.search(expression)
        compiled = CompiledRule(program, reads_action, action_only)
        self._programs[expression] = compiled
        if len(self._programs) > self._max_programs:
            self._programs.popitem(last=False)
        return compiled

    def compile(self, expression: str) -> Any:
        return self.compiled(expression).program

    def check(
        self, expression: str, variables: Collection[str], functions: Collection[str]
    ) -> None:
        """Compile and refuse names the rule could never resolve, with their position.

        `variables`: the top-level names it may read; `functions`: the helpers it may
        call besides the native ones. Names bound by a macro (`x` in
        `list.exists(x, ...)`) are allowed. A rule that can never be true or false
        (`1 + 2`, `"abc"`) is refused too.
        """
        check_names(expression, self.compile(expression), variables, functions)
        check_may_be_bool(expression)

    def environment(
        self, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
    ) -> RuleEnvironment:
        return RuleEnvironment(self, variables, functions)

    def evaluate(
        self,
        expression: str,
        variables: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> bool:
        """True or False; an empty expression is always true."""
        if not expression.strip():
            return True
        return self.environment(variables, functions or {}).evaluate(expression)


class RuleEnvironment:
    """One decision's variables and helpers for CEL, converted once (not thread-safe)."""

    def __init__(
        self,
        rules: RuleBook,
        variables: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
    ) -> None:
        self._rules = rules
        self._variables = variables
        self._functions = functions
        # Built on the first rule: converting the profile costs, and many decisions
        # have no rule at all.
        self._context: Any = None
        self._lazy: dict[str, Any] = {}
        # Results of the rules not reading `action`, by expression: read directly by the
        # steps that evaluate the same rule for every action (a dict lookup, not a call).
        self.results: dict[str, bool | RuleEvaluationError] = {}

    def evaluate(self, expression: str, action: Mapping[str, Any] | None = None) -> bool:
        """True or False (an empty expression is true); RuleEvaluationError otherwise.

        `action` is the `action` variable; results of rules not reading it are reused.
        """
        # Kept results first (only non-empty expressions are ever kept): most calls of a
        # decision are for a rule already evaluated for another action.
        known = self.results.get(expression)
        if known is not None:
            if known is True or known is False:
                return known
            raise known
        if type(action) is ActionVariable:
            kept = action.only.get(expression)
            if kept is not None:
                return kept
        if not expression.strip():
            return True
        try:
            compiled = self._rules.compiled(expression)
        except RuleSyntaxError as err:
            raise RuleEvaluationError(f"does not compile: {err}") from err
        key = None
        if compiled.action_only and action is not None:
            frozen = action.key() if isinstance(action, ActionVariable) else _frozen(action)
            key = (expression, frozen)
            cached = self._rules.action_results.get(key)
            if cached is not None:
                if type(action) is ActionVariable:
                    action.only[expression] = cached
                return cached
        if compiled.reads_action:
            self._lazy["action"] = dict(action) if action is not None else None
        try:
            result = self._run(compiled.program)
        except RuleEvaluationError as err:
            if not compiled.reads_action:
                self.results[expression] = err
            raise
        if not compiled.reads_action:
            self.results[expression] = result
        if key is not None:
            if type(action) is ActionVariable:
                action.only[expression] = result
            self._rules.action_results[key] = result
            if len(self._rules.action_results) > ACTION_RESULTS:
                self._rules.action_results.popitem(last=False)
        return result

    def _run(self, program: Any) -> bool:
        if self._context is None:
            self._context = cel.Context(
                variables=dict(self._variables), functions=dict(self._functions)
            )
            self._context.set_variable_resolver(self._lazy.get)
        try:
            result = program.execute(self._context)
        except Exception as err:  # evaluation errors come as many types
            raise RuleEvaluationError(describe(err)) from err
        except BaseException as err:
            if not is_panic(err):
                raise
            raise RuleEvaluationError("the CEL evaluator failed") from None
        if not isinstance(result, bool):
            raise RuleEvaluationError(f"evaluated to {type(result).__name__}, not a bool")
        return result
