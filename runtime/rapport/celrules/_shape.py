"""Rules that can never be true or false, told from their top level without types.

The CEL binding has no type checker: `1 + 2`, `"abc"` or `event.properties.x + "a"`
compile and only fail, for every customer, when evaluated. What the syntax alone
proves is refused when saved: a whole expression that is a non-bool literal, a list
or map construction, a unary minus, or whose top-level operator is `+ - * / %` (none
of them is defined on bools). Anything that could be a bool is left alone: `||`,
`&&`, comparisons and `in` at the top level, field access, calls, indexing, macros.
A ternary's two branches are checked each. Only runs on a rule that compiled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import RuleSyntaxError

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<raw>(?:[rR][bB]?|[bB][rR])(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"
        |'[^'\n]*'|"[^"\n]*"))
  | (?P<string>[bB]?(?:'''(?:\\[\s\S]|[\s\S])*?'''|\"\"\"(?:\\[\s\S]|[\s\S])*?\"\"\"
        |'(?:\\[\s\S]|[^'\\\n])*'|"(?:\\[\s\S]|[^"\\\n])*"))
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?
        |\d+[eE][+-]?\d+|\d+[uU]?)
  | (?P<name>[A-Za-z_]\w*|`[^`\n]*`)
  | (?P<operator>\|\||&&|==|!=|<=|>=|[<>!?:.,()\[\]{}+\-*/%])
    """,
    re.VERBOSE,
)
_OPENING = {"(": ")", "[": "]", "{": "}"}
_RAW_PREFIX = re.compile(r"^[rRbB]{0,2}")
_MAY_BE_BOOL = frozenset({"||", "&&", "==", "!=", "<", "<=", ">", ">=", "in"})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, name, operator
    text: str
    start: int  # offset in the rule


def _tokens(text: str) -> list[_Token] | None:
    """The rule's tokens, or None for anything this reader does not know (left alone)."""
    tokens: list[_Token] = []
    at = 0
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None:
            return None
        kind = found.lastgroup or ""
        if kind == "raw":  # a raw string: no escapes inside, a string all the same
            kind = "string"
        if kind != "space":
            tokens.append(_Token(kind, found.group(), at))
        at = found.end()
    return tokens


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _closing(tokens: list[_Token], lo: int, hi: int) -> list[int] | None:
    """For each token in [lo, hi), the index of the bracket closing it (or -1); None when
    the brackets do not pair up (left alone)."""
    closing = [-1] * (hi - lo)
    stack: list[int] = []
    for index in range(lo, hi):
        token = tokens[index]
        if token.kind != "operator":
            continue
        if token.text in _OPENING:
            stack.append(index)
        elif token.text in (")", "]", "}"):
            if not stack or _OPENING[tokens[stack[-1]].text] != token.text:
                return None
            closing[stack.pop() - lo] = index
    return closing if not stack else None


def _ends_operand(token: _Token) -> bool:
    """Whether a `-` after this token subtracts (rather than negates)."""
    if token.kind == "operator":
        return token.text in (")", "]", "}")
    return token.text != "in"


def _top_level(tokens: list[_Token], lo: int, hi: int) -> list[int] | None:
    """Indices of the tokens in [lo, hi) outside any bracket."""
    closing = _closing(tokens, lo, hi)
    if closing is None:
        return None
    found = []
    index = lo
    while index < hi:
        found.append(index)
        index = max(index, closing[index - lo]) + 1
    return found


def _literal_kind(token: _Token) -> str | None:
    if token.kind == "number":
        return "a number"
    if token.kind == "string":
        prefix = _RAW_PREFIX.match(token.text)
        is_bytes = prefix is not None and "b" in prefix.group().lower()
        return "bytes" if is_bytes else "a string"
    if token.kind == "name" and token.text == "null":
        return "null"
    return None


def _refusal(tokens: list[_Token]) -> tuple[int, str] | None:
    """(the offending token, why) when the rule can never evaluate to a bool.

    Iterative (a stack of token ranges), not recursive: a rule of nested parentheses
    or chained ternaries is only bounded by the rule's length."""
    ranges = [(0, len(tokens))]
    while ranges:
        lo, hi = ranges.pop()
        top = _top_level(tokens, lo, hi)
        if not top:
            continue
        texts = [tokens[i].text if tokens[i].kind in ("operator", "name") else "" for i in top]
        # A ternary is the lowest level: `cond ? a : b`, its else branch may be one too.
        if "?" in texts:
            question = top[texts.index("?")]
            colons = [i for i in top if i > question and tokens[i].text == ":"]
            if colons and tokens[question - 1].text != ".":  # not optional syntax `a.?b`
                ranges += [(colons[0] + 1, hi), (question + 1, colons[0])]
            continue
        if any(text in _MAY_BE_BOOL for text in texts):
            continue
        refused = _arithmetic(tokens, top)
        if refused is not None:
            return refused
        if len(top) != 1:
            continue  # member access, calls, indexing: may be a bool
        first = tokens[lo]
        if first.kind == "operator" and first.text == "(":
            ranges.append((lo + 1, hi - 1))
        elif first.kind == "operator" and first.text in ("[", "{"):
            return lo, f"is {'a list' if first.text == '[' else 'a map'}, never true or false"
        elif (kind := _literal_kind(first)) is not None:
            return lo, f"is {kind}, never true or false"
    return None


def _arithmetic(tokens: list[_Token], top: list[int]) -> tuple[int, str] | None:
    """The first top-level arithmetic operator or leading unary minus, with why."""
    for position, index in enumerate(top):
        token = tokens[index]
        if token.kind != "operator" or token.text not in _ARITHMETIC:
            continue
        if position == 0:
            if token.text == "-":
                return index, "is a negated number, never true or false"
            continue
        if token.text != "-" or _ends_operand(tokens[top[position - 1]]):
            return index, f"has '{token.text}' at its top level, never true or false"
    return None


def check_may_be_bool(text: str) -> None:
    """RuleSyntaxError, located, when a compiled rule can never be true or false."""
    tokens = _tokens(text)
    if not tokens:
        return
    refused = _refusal(tokens)
    if refused is not None:
        index, why = refused
        line, column = _position(text, tokens[index].start)
        raise RuleSyntaxError(f"the rule {why}", line, column)
