"""Message templates: Jinja2 in an immutable sandbox.

Variables are `traits`, `data` and `customer`; a missing variable (or a missing
attribute of one) renders empty. Only HTML is autoescaped.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .model import MessageContent

# Bounds on the operators that can allocate or compute without limit.
MAX_EXPONENT = 1000
MAX_REPEAT = 100_000


class TemplateRenderError(Exception):
    """A template could not be rendered (syntax, runtime or sandbox violation)."""


@dataclass(frozen=True)
class RenderedContent:
    subject: str
    text_body: str
    html_body: str | None


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Raise instead of returning an undefined: ChainableUndefined would render it empty.
        raise SecurityError(f"access to attribute {attribute!r} is unsafe")

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        if operator_name == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    if count * max(len(sequence), 1) > MAX_REPEAT:
                        raise SecurityError("repetition too large")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


@cache
def _environment(html: bool) -> _Environment:
    # Built on first use, not at import time.
    return _Environment(
        autoescape=html,
        undefined=ChainableUndefined,
        finalize=_blank_none,
        keep_trailing_newline=True,
    )


def template_syntax_error(source: str, *, html: bool = False) -> str | None:
    """None when `source` parses in the sandbox, else a short description of the error."""
    try:
        _environment(html).parse(source)
    except TemplateSyntaxError as err:
        return f"is not a valid template: {err.message} (line {err.lineno})"
    return None


def render(source: str, variables: dict[str, Any], *, html: bool = False) -> str:
    try:
        return _environment(html).from_string(source).render(variables)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as err:
        raise TemplateRenderError(type(err).__name__) from err
    except RecursionError as err:
        raise TemplateRenderError("RecursionError") from err


def render_content(
    content: MessageContent, *, traits: dict[str, Any], data: dict[str, Any], customer: str
) -> RenderedContent:
    variables = {"traits": traits, "data": data, "customer": customer}
    # A header cannot span lines: fold any line breaks a variable brought in.
    subject = " ".join(render(content.subject, variables).split())
    text_body = render(content.text_body, variables)
    html_body = render(content.html_body, variables, html=True) if content.html_body else None
    return RenderedContent(subject=subject, text_body=text_body, html_body=html_body)
