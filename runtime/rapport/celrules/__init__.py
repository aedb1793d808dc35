"""CEL rules checked when saved: compiled with the `common-expression-language` binding,
errors located (line, column), names a rule could never resolve and shapes that can
never be true or false (`"abc"`, `1 + 2`: _shape.py) refused.

Services keep their own variables, helpers and caches; this package is only what every
rule of every service needs to be safe to save.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import cel

from ._errors import RuleSyntaxError
from ._shape import check_may_be_bool

__all__ = [
    "MAX_RULE_CHARS",
    "NATIVE_FUNCTIONS",
    "RuleSyntaxError",
    "check_may_be_bool",
    "check_names",
    "compile_checked",
    "compile_located",
    "describe",
    "is_panic",
    "locate",
]

# The binding parses and evaluates recursively in native code: an expression chaining
# some ten thousand operators overflows the stack and kills the process, and an error
# far into a long line panics. Rules are kept far below both.
MAX_RULE_CHARS = 4096

# Functions of the binding itself and CEL's macros (operators are named `_+_`, `@in`,
# `!_`... and are skipped by their first character).
NATIVE_FUNCTIONS = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double",
        "string", "bytes", "type", "duration", "timestamp", "dyn", "has", "getFullYear",
        "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours",
        "getMinutes", "getSeconds", "getMilliseconds", "all", "exists", "exists_one", "map",
        "filter",
    }
)  # fmt: skip
_MACRO_BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*([^\n]*)")
_STRING = re.compile(
    r"""[rRbB]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.DOTALL,
)


def is_panic(err: BaseException) -> bool:
    """pyo3 turns a Rust panic into pyo3_runtime.PanicException, a BaseException."""
    return type(err).__module__ == "pyo3_runtime"


def describe(err: Exception) -> str:
    """What went wrong, in words (KeyError's str() is just the quoted key)."""
    if isinstance(err, KeyError):
        return f"no such key: {err.args[0] if err.args else ''}"
    text = str(err).strip()
    return text or type(err).__name__


def _without_strings(text: str) -> str:
    """The text with string literals blanked (same length, newlines kept)."""
    return _STRING.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def locate(text: str, pattern: str) -> tuple[int, int]:
    """1-based line and column of the first match of `pattern` outside strings (0, 0
    when there is none)."""
    found = re.search(pattern, _without_strings(text))
    if found is None:
        return 0, 0
    before = text[: found.start()]
    return before.count("\n") + 1, found.start() - (before.rfind("\n") + 1) + 1


def compile_located(text: str) -> Any:
    """The compiled program; RuleSyntaxError with the parser's position otherwise."""
    if len(text) > MAX_RULE_CHARS:
        raise RuleSyntaxError(f"longer than {MAX_RULE_CHARS} characters")
    if "\x00" in text:
        raise RuleSyntaxError("holds a NUL character")
    try:
        return cel.compile(text)
    except Exception as err:  # the binding raises ValueError; be broad
        # The binding quotes the whole rule first; keep the located message only.
        found = _POSITION.search(str(err))
        if found is None:
            raise RuleSyntaxError(describe(err)) from err
        raise RuleSyntaxError(
            found.group(3).strip(), int(found.group(1)), int(found.group(2))
        ) from err
    except BaseException as err:
        if not is_panic(err):
            raise
        raise RuleSyntaxError("the CEL parser failed on it") from None


def compile_checked(text: str, variables: Collection[str], functions: Collection[str] = ()) -> Any:
    """Compile a rule (an expression that must be true or false) and refuse names it
    could never resolve, and a shape that can never be true or false, with their
    position.

    `variables`: the top-level names it may read; `functions`: the helpers it may call
    besides the native ones. Names bound by a macro (`x` in `list.exists(x, ...)`) are
    allowed.
    """
    program = compile_located(text)
    check_names(text, program, variables, functions)
    check_may_be_bool(text)
    return program


def check_names(
    text: str, program: Any, variables: Collection[str], functions: Collection[str]
) -> None:
    """RuleSyntaxError for the first unknown variable or function of a compiled rule."""
    bound = set(_MACRO_BINDING.findall(_without_strings(text)))
    for name in sorted(program.variables()):
        if name not in variables and name not in bound:
            line, column = locate(text, rf"(?<![\w.]){re.escape(name)}\b")
            known = ", ".join(sorted(variables))
            raise RuleSyntaxError(f"undeclared reference to '{name}' (use {known})", line, column)
    for name in program.functions():
        if not name[:1].isalpha() or name in NATIVE_FUNCTIONS or name in functions:
            continue
        line, column = locate(text, rf"\b{re.escape(name)}\s*\(")
        raise RuleSyntaxError(f"unknown function '{name}'", line, column)
