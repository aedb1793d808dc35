"""Jinja2 in an immutable sandbox: strict about undefined variables, bounded in cost.

Variables are `traits`, `data` and `customer`. Using a variable that is not defined
(or a missing key of one) is an error naming it (`traits.first_name`), never an empty
string; `x is defined` and `x | default(...)` test and replace optional ones. Only
HTML is autoescaped.

A template is untrusted code, so every render has a budget (see Budget): loop
iterations, calls and filters are counted, the characters produced are counted,
operations that could allocate without limit are checked before they run, and a
wall-clock deadline stops what the counts miss. Going over is a TemplateRenderError
(kind TOO_COSTLY), never a hang or an exhausted process. Recursive loops are refused
when parsing; macro recursion ends in RecursionError, reported the same way.
"""

from __future__ import annotations

import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, update_wrapper
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

# Bounds on the operators that can allocate or compute without limit.
MAX_EXPONENT = 1000
MAX_REPEAT = 100_000
# Characters one render may produce (output and intermediate strings alike).
MAX_TEXT = 2_000_000
# Loop iterations, calls and filter applications one render may make.
MAX_STEPS = 200_000
# Widths in padding and format specifications.
MAX_WIDTH = 10_000
MAX_SECONDS = 0.5
# Integers that exponentiation may start from.
MAX_INT_BITS = 4096
# Prefix of the environment attributes the rewritten templates call (templates
# cannot reach environment attributes themselves).
_HOOK = "rapport_"


class TemplateRenderError(Exception):
    """A template could not be rendered. ``kind``: UNDEFINED_VARIABLE, TOO_COSTLY,
    NOT_ALLOWED (the sandbox refused an operation) or FAILED (an error while
    rendering, e.g. a division by zero). ``variable``: for UNDEFINED_VARIABLE, the
    variable's path. The text never holds data, only names from the template."""

    def __init__(self, kind: str, detail: str, variable: str = "") -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.variable = variable
        # The part of the content (subject, text_body...) being rendered; set by callers.
        self.part = ""

    def describe(self) -> str:
        """`part: detail`, e.g. `subject: undefined variable traits.first_name`."""
        return f"{self.part}: {self.detail}" if self.part else self.detail


class _MissingVariable(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class _TooCostly(Exception):
    """Raised inside a render; reported as TemplateRenderError(TOO_COSTLY)."""


@dataclass
class Budget:
    """What one render may still spend; shared by everything the render calls."""

    source: str
    # The render's variables. The paths of their values (for undefined-variable errors)
    # are found only when an error needs one: most renders never do.
    variables: Mapping[str, Any] = field(default_factory=dict)
    steps: int = MAX_STEPS
    text: int = MAX_TEXT
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)
    _paths: dict[int, tuple[str, ...]] | None = field(default=None, repr=False)

    def path_of(self, value: Any) -> tuple[str, ...] | None:
        """Where `value` is among the variables (`("traits", ".address")`), if it is."""
        if self._paths is None:
            # The sandbox is immutable: the variables are as they were when rendering began.
            self._paths = {}
            for key, item in self.variables.items():
                _record_paths(item, (key,), self._paths)
        return self._paths.get(id(value))

    def step(self, count: int = 1) -> None:
        self.steps -= count
        if self.steps < 0:
            raise _TooCostly(f"more than {MAX_STEPS} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise _TooCostly(f"ran longer than {MAX_SECONDS:g} s")

    def produce(self, characters: int) -> None:
        self.text -= characters
        if self.text < 0:
            raise _TooCostly(f"produced more than {MAX_TEXT} characters")


_budget: ContextVar[Budget | None] = ContextVar("rapport_template_budget", default=None)


def _step(count: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:  # None while compiling (constant folding)
        budget.step(count)


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_TEXT:
        raise _TooCostly(f"made a value longer than {MAX_TEXT}")
    return value


# --- paths of variables (for undefined-variable errors) -------------------------------

Path = tuple[str, ...]


def _record_paths(value: Any, path: Path, paths: dict[int, Path], depth: int = 0) -> None:
    if depth > 32:
        return
    if isinstance(value, Mapping):
        paths[id(value)] = path
        for key, item in value.items():
            _record_paths(item, (*path, f".{key}"), paths, depth + 1)
    elif isinstance(value, list):
        paths[id(value)] = path
        for index, item in enumerate(value):
            _record_paths(item, (*path, f"[{index}]"), paths, depth + 1)


def _spelled_out(segment: str, source: str) -> str:
    # A key computed at run time (`data[traits.email]`) may be personal data: a
    # segment is shown only if the template itself spells it out.
    bare = segment.lstrip(".").strip("[]")
    if bare in source:
        return segment
    return "[...]" if segment.startswith("[") or not segment.startswith(".") else ".[...]"


class _Missing(StrictUndefined):
    """StrictUndefined that fails with the variable's path, e.g. `traits.first_name`."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[Exception] = _MissingVariable,
    ) -> None:
        super().__init__(hint, obj, name, _MissingVariable)

    @property
    def _undefined_message(self) -> str:
        # What _fail_with_undefined_error raises _MissingVariable with.
        budget = _budget.get()
        source = budget.source if budget is not None else ""
        name = self._undefined_name
        if name is None:
            return "a value"
        segment = f"[{name}]" if isinstance(name, int) else f".{name}"
        if self._undefined_obj is missing:
            return _spelled_out(str(name), source)
        parent = budget.path_of(self._undefined_obj) if budget is not None else None
        if parent is None:
            kind = type(self._undefined_obj).__name__
            return f"{_spelled_out(str(name), source)} (of a {kind} value)"
        return "".join(_spelled_out(s, source) for s in (*parent, segment))


# --- the environment --------------------------------------------------------------------

_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(template: str) -> None:
    for match in _FORMAT_WIDTH.finditer(template):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > MAX_WIDTH):
                raise _TooCostly("a format width or precision is too large")


def _check_brace_format(template: str) -> None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format reports it
    for _, _, spec, _ in parsed:
        if spec and ("{" in spec or any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", spec))):
            raise _TooCostly("a format width or precision is too large")


def _text_length(items: Iterable[Any]) -> int:
    return sum(len(item) for item in items if isinstance(item, str))


def _check_str_method(method: Any, args: tuple[Any, ...]) -> None:
    """Before a string method runs: the size of what it would make."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(method, "__name__", "")
    if name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
        if any(isinstance(a, int) and a > MAX_WIDTH for a in args):
            raise _TooCostly(f"{name}() width is too large")
    elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        count = owner.count(old) if old else len(owner) + 1
        if len(owner) + count * max(len(new) - len(old), 0) > MAX_TEXT:
            raise _TooCostly("replace() would make too long a string")
    elif name == "join" and args and isinstance(args[0], list | tuple):
        if _text_length(args[0]) + len(owner) * len(args[0]) > MAX_TEXT:
            raise _TooCostly("join() would make too long a string")


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, counted, with the size of its result checked (before, when an
    argument alone can make it huge)."""

    # Filters marked pass_context / pass_eval_context / pass_environment get that first.
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        _step()
        _check_filter_arguments(name, args[skip:], kwargs)
        return _check_size(function(*args, **kwargs))

    # Keeps jinja's pass_context / pass_eval_context markers.
    return update_wrapper(guarded, function)


def _check_filter_arguments(name: str, values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not values:
        return
    subject, rest = values[0], values[1:]
    text = subject if isinstance(subject, str) else ""
    if name in ("center", "indent", "wordwrap"):
        numbers = [a for a in (*rest, *kwargs.values()) if isinstance(a, int)]
        widths = [a for a in (*rest, *kwargs.values()) if isinstance(a, str)]
        lines = text.count("\n") + 1
        if any(n > MAX_WIDTH for n in numbers if name != "wordwrap"):
            raise _TooCostly(f"{name} width is too large")
        if name == "indent" and lines * (max(numbers, default=4) + _text_length(widths)) > MAX_TEXT:
            raise _TooCostly("indent would make too long a string")
        if name == "wordwrap" and len(text) * max(_text_length(widths), 1) > MAX_TEXT:
            raise _TooCostly("wordwrap would make too long a string")
    elif name == "replace" and len(rest) >= 2 and isinstance(rest[0], str):
        _check_str_method(str(subject).replace, (str(rest[0]), str(rest[1])))
    elif name == "format" and isinstance(subject, str):
        _check_percent_format(subject)
    elif name == "join" and not isinstance(subject, str):
        items = list(subject) if isinstance(subject, list | tuple) else []
        separator = rest[0] if rest and isinstance(rest[0], str) else ""
        if _text_length(items) + len(separator) * len(items) > MAX_TEXT:
            raise _TooCostly("join would make too long a string")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*", "%", "+"})

    def __init__(self, *, html: bool) -> None:
        super().__init__(
            autoescape=html,
            undefined=_Missing,
            finalize=self._finalize,
            keep_trailing_newline=True,
        )
        # Generates text of any length on request; nothing a message needs.
        self.globals.pop("lipsum", None)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    @staticmethod
    def _finalize(value: Any) -> Any:
        if value is None:
            return ""
        budget = _budget.get()
        if budget is not None and isinstance(value, str):
            budget.produce(len(value))
        return value

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Raise instead of returning an undefined (that would read as a missing variable).
        raise SecurityError(f"access to attribute {attribute!r} is unsafe")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _step()
        _check_str_method(__obj, args)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_brace_format(value.__self__)
        return wrapped

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise _TooCostly("exponent too large")
            if isinstance(left, int) and left.bit_length() > MAX_INT_BITS:
                raise _TooCostly("number too large to raise to a power")
            return operator.pow(left, right)
        if operator_name == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    if count * max(len(sequence), 1) > MAX_REPEAT:
                        raise _TooCostly("repetition too large")
            return operator.mul(left, right)
        if operator_name == "%" and isinstance(left, str):
            _check_percent_format(left)
        return _check_size(super().call_binop(context, operator_name, left, right))

    # The two hooks the rewritten templates call (see _Rewrite).

    def rapport_charge(self, characters: int) -> str:
        """Once per loop iteration and macro call (a step, counted by `call`): the
        literal text its body writes, which no other hook sees."""
        budget = _budget.get()
        if budget is not None:
            budget.produce(characters)
        return ""

    def rapport_concat(self, *parts: Any) -> str:
        """`a ~ b`, with the length checked before joining."""
        texts = [p if isinstance(p, str) else str(p) for p in parts]
        if _text_length(texts) > MAX_TEXT:
            raise _TooCostly(f"made a value longer than {MAX_TEXT}")
        if any(hasattr(p, "__html__") for p in parts):
            return markup_join(parts)
        return str_join(texts)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        rewritten = _Rewrite().visit(tree)
        rewritten.set_environment(self)
        return rewritten


def _literal_length(body: list[nodes.Node]) -> int:
    return sum(len(data.data) for node in body for data in node.find_all(nodes.TemplateData)) + sum(
        len(data.data) for data in body if isinstance(data, nodes.TemplateData)
    )


class _Rewrite(NodeTransformer):
    """Charges every loop iteration and macro call; checks every `~`; refuses
    recursive loops (a recursion no step count could follow)."""

    @staticmethod
    def _charge(body: list[nodes.Node], lineno: int) -> list[nodes.Node]:
        call = nodes.Call(
            nodes.EnvironmentAttribute(_HOOK + "charge", lineno=lineno),
            [nodes.Const(_literal_length(body), lineno=lineno)],
            [],
            None,
            None,
            lineno=lineno,
        )
        return [nodes.Output([call], lineno=lineno), *body]

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            raise TemplateSyntaxError("recursive loops are not allowed", node.lineno)
        self.generic_visit(node)
        node.body = self._charge(node.body, node.lineno)
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        self.generic_visit(node)
        node.body = self._charge(node.body, node.lineno)
        return node

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        self.generic_visit(node)
        node.body = self._charge(node.body, node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        hook = nodes.EnvironmentAttribute(_HOOK + "concat", lineno=node.lineno)
        return nodes.Call(hook, list(node.nodes), [], None, None, lineno=node.lineno)


@lru_cache(maxsize=2)
def _environment(html: bool) -> _Environment:
    # Built on first use, not at import time.
    return _Environment(html=html)


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Any:
    # Compiling is the expensive part of a render: the same template is compiled once.
    return _environment(html).from_string(source)


# Sources up to this long have their verdict remembered (the same inline content is
# sent again and again; parsing it is most of what accepting a message costs).
_REMEMBERED_SOURCE = 4096


def template_syntax_error(source: str, *, html: bool = False) -> str | None:
    """None when `source` parses in the sandbox, else a short description of the error."""
    if "\x00" in source:
        # PostgreSQL text cannot hold NUL: refused on every backend alike.
        return "must not contain NUL characters"
    if len(source) <= _REMEMBERED_SOURCE:
        return _remembered_syntax_error(source, html)
    return _syntax_error(source, html)


@lru_cache(maxsize=1024)
def _remembered_syntax_error(source: str, html: bool) -> str | None:
    return _syntax_error(source, html)


def _syntax_error(source: str, html: bool) -> str | None:
    try:
        _environment(html).parse(source)
    except TemplateSyntaxError as err:
        return f"is not a valid template: {err.message} (line {err.lineno})"
    except RecursionError:
        return "is not a valid template: nested too deeply"
    return None


# Jinja's line breaks: each (CR LF, CR, LF) becomes LF in what a template renders.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def rendered_without_variables(source: str) -> str | None:
    """What `source` renders to whatever the variables, when it holds no template
    markup: itself, its line breaks made LF as Jinja makes them. None when it holds
    markup (`{{`, `{%`, `{#`): only a render with the variables tells."""
    environment = _environment(False)
    for start in (
        environment.variable_start_string,
        environment.block_start_string,
        environment.comment_start_string,
    ):
        if start in source:
            return None
    return _LINE_BREAK.sub("\n", source)


def render(source: str, variables: dict[str, Any], *, html: bool = False) -> str:
    """The rendered text; TemplateRenderError when it cannot be rendered."""
    budget = Budget(source, variables)
    token = _budget.set(budget)
    try:
        chunks = []
        for chunk in _compiled(source, html).generate(variables):
            budget.produce(len(chunk))
            chunks.append(chunk)
        return "".join(chunks)
    except _MissingVariable as err:
        raise TemplateRenderError(
            "UNDEFINED_VARIABLE", f"undefined variable {err.path}", err.path
        ) from None
    except _TooCostly as err:
        raise TemplateRenderError("TOO_COSTLY", f"too costly: {err}") from None
    except SecurityError:
        raise TemplateRenderError("NOT_ALLOWED", "an operation the sandbox refuses") from None
    except TemplateSyntaxError as err:
        raise TemplateRenderError("FAILED", f"is not a valid template ({err.message})") from None
    except RecursionError:
        raise TemplateRenderError("TOO_COSTLY", "too costly: recursion too deep") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, MemoryError) as err:
        raise TemplateRenderError("FAILED", f"failed ({type(err).__name__})") from None
    finally:
        _budget.reset(token)
