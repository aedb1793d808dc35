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

# The CEL binding parses and evaluates recursively in native code: an expression
# chaining some ten thousand operators overflows the stack and kills the process,
# and an error far into a long line panics. Rules are kept far below both.
MAX_EXPRESSION_CHARS = 4096

# What each kind of rule may name at its top level.
ENGAGEMENT_VARIABLES = frozenset({"profile", "context", "action"})
CONDITION_VARIABLES = frozenset({"event", "profile"})

# Functions of the binding itself (operators are named `_+_`, `@in`, `!_`...) and
# the helpers every environment adds (see rule_helpers).
NATIVE_FUNCTIONS = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double",
        "string", "bytes", "type", "duration", "timestamp", "dyn", "getFullYear", "getMonth",
        "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes",
        "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
_MACRO_BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*([^\n]*)")
_STRING = re.compile(
    r"""[rRbB]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.DOTALL,
)


class RuleSyntaxError(ValueError):
    """The expression cannot be used; `line` and `column` (1-based) locate it when known."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{where}{message}")


class RuleEvaluationError(Exception):
    """The expression failed at evaluation time or did not yield a bool."""


def _is_panic(err: BaseException) -> bool:
    # pyo3 turns a Rust panic into pyo3_runtime.PanicException, a BaseException.
    return type(err).__module__ == "pyo3_runtime"


def _describe(err: Exception) -> str:
    # KeyError's str() is just the quoted key: say what it means.
    if isinstance(err, KeyError):
        return f"no such key: {err.args[0] if err.args else ''}"
    text = str(err).strip()
    return text or type(err).__name__


def _syntax_error(err: Exception) -> RuleSyntaxError:
    # The binding quotes the whole expression first; keep the located message only.
    found = _POSITION.search(str(err))
    if found is None:
        return RuleSyntaxError(_describe(err))
    return RuleSyntaxError(found.group(3).strip(), int(found.group(1)), int(found.group(2)))


def _without_strings(expression: str) -> str:
    """The expression with string literals blanked (same length, newlines kept)."""
    return _STRING.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), expression)


def _locate(expression: str, pattern: str) -> tuple[int, int]:
    """1-based line and column of the first match of `pattern` outside strings."""
    found = re.search(pattern, _without_strings(expression))
    if found is None:
        return 0, 0
    before = expression[: found.start()]
    line = before.count("\n") + 1
    return line, found.start() - (before.rfind("\n") + 1) + 1


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

    __slots__ = ("_key",)

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
        if len(expression) > MAX_EXPRESSION_CHARS:
            raise RuleSyntaxError(f"longer than {MAX_EXPRESSION_CHARS} characters")
        try:
            program = cel.compile(expression)
            variables = set(program.variables())
            reads_action = "action" in variables
            action_only = variables == {"action"} and not _HELPER_CALL.search(expression)
        except Exception as err:  # the binding raises ValueError; be broad
            raise _syntax_error(err) from err
        except BaseException as err:
            if not _is_panic(err):
                raise
            raise RuleSyntaxError("the CEL parser failed on it") from None
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
        `list.exists(x, ...)`) are allowed.
        """
        program = self.compile(expression)
        bound = set(_MACRO_BINDING.findall(_without_strings(expression)))
        for name in program.variables():
            if name not in variables and name not in bound:
                line, column = _locate(expression, rf"(?<![\w.]){re.escape(name)}\b")
                known = ", ".join(sorted(variables))
                raise RuleSyntaxError(
                    f"undeclared reference to '{name}' (use {known})", line, column
                )
        for name in program.functions():
            if not name[:1].isalpha() or name in NATIVE_FUNCTIONS or name in functions:
                continue
            line, column = _locate(expression, rf"\b{re.escape(name)}\s*\(")
            raise RuleSyntaxError(f"unknown function '{name}'", line, column)

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
        self._results: dict[str, bool | RuleEvaluationError] = {}

    def evaluate(self, expression: str, action: Mapping[str, Any] | None = None) -> bool:
        """True or False (an empty expression is true); RuleEvaluationError otherwise.

        `action` is the `action` variable; results of rules not reading it are reused.
        """
        if not expression.strip():
            return True
        known = self._results.get(expression)
        if known is not None:
            if isinstance(known, RuleEvaluationError):
                raise known
            return known
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
                return cached
        if compiled.reads_action:
            self._lazy["action"] = dict(action) if action is not None else None
        try:
            result = self._run(compiled.program)
        except RuleEvaluationError as err:
            if not compiled.reads_action:
                self._results[expression] = err
            raise
        if not compiled.reads_action:
            self._results[expression] = result
        if key is not None:
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
            raise RuleEvaluationError(_describe(err)) from err
        except BaseException as err:
            if not _is_panic(err):
                raise
            raise RuleEvaluationError("the CEL evaluator failed") from None
        if not isinstance(result, bool):
            raise RuleEvaluationError(f"evaluated to {type(result).__name__}, not a bool")
        return result
