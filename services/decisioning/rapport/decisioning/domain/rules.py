"""Engagement rules in CEL: compiled once per expression, evaluated to a bool."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import cel

# The CEL binding parses and evaluates recursively in native code: an expression
# chaining some ten thousand operators overflows the stack and kills the process,
# and an error far into a long line panics. Rules are kept far below both.
MAX_EXPRESSION_CHARS = 4096


class RuleSyntaxError(ValueError):
    """The expression does not compile; the message is the compiler's."""


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


class RuleBook:
    """Compiles CEL expressions and keeps the programs, keyed by their text.

    Keyed by text (not by action) so an action replaced with the same rule
    keeps its program and a changed rule gets a new one.
    """

    def __init__(self, max_programs: int = 4096) -> None:
        self._programs: OrderedDict[str, Any] = OrderedDict()
        self._max_programs = max_programs

    def compile(self, expression: str) -> Any:
        program = self._programs.get(expression)
        if program is not None:
            self._programs.move_to_end(expression)
            return program
        if len(expression) > MAX_EXPRESSION_CHARS:
            raise RuleSyntaxError(f"longer than {MAX_EXPRESSION_CHARS} characters")
        try:
            program = cel.compile(expression)
        except Exception as err:  # the binding raises ValueError; be broad
            raise RuleSyntaxError(_describe(err)) from err
        except BaseException as err:
            if not _is_panic(err):
                raise
            raise RuleSyntaxError("the CEL parser failed on it") from None
        self._programs[expression] = program
        if len(self._programs) > self._max_programs:
            self._programs.popitem(last=False)
        return program

    def evaluate(self, expression: str, variables: dict[str, Any]) -> bool:
        """True or False; an empty expression is always true."""
        if not expression.strip():
            return True
        try:
            program = self.compile(expression)
        except RuleSyntaxError as err:
            raise RuleEvaluationError(f"does not compile: {err}") from err
        try:
            result = program.execute(variables)
        except Exception as err:  # evaluation errors come as many types
            raise RuleEvaluationError(_describe(err)) from err
        except BaseException as err:
            if not _is_panic(err):
                raise
            raise RuleEvaluationError("the CEL evaluator failed") from None
        if not isinstance(result, bool):
            raise RuleEvaluationError(f"evaluated to {type(result).__name__}, not a bool")
        return result
