"""Blocked patterns matched by RE2: linear time in the value, whatever the pattern.

Python's ``re`` backtracks: a saved ``(a+)+`` against ``"a" * 30 + "!"`` (a device id
anyone with the public Segment write key can send) held identity's event loop for
minutes. RE2 (google-re2) cannot be stalled by a pattern.

Patterns are written in RE2 syntax with Python's meanings kept, so rules saved when
Python's ``re`` ran them match the same values:

- ``\\w \\W \\d \\D \\s \\S`` are Unicode, as in Python (RE2's are ASCII-only): each becomes
  the exact set of code points Python's ``re`` gives it, read from ``re`` itself.
- Under ``(?i)`` the letter i also matches dotless ı and dotted İ, as in Python.
- ``{,n}`` means ``{0,n}`` (and ``{,}`` ``{0,}``); ``\\Z`` is ``\\z``; ``\\uXXXX``,
  ``\\UXXXXXXXX``, ``\\N{name}``, octal escapes and ``[`` inside a class are literals,
  as in Python.
- ``$`` (without ``(?m)``) is the end of the value; Python also let it match before a
  final newline, which normalised values never have (they are trimmed).
- Refused: word boundaries ``\\b \\B`` (RE2's are ASCII-only), back-references,
  look-around, atomic groups and possessive quantifiers, ``\\C`` (RE2's "any byte").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

import re2
from rapport.errors import InvalidArgument

# Patterns of one workspace's rules, as given to RE2 (Unicode classes such as \\w are
# written out, ~12,000 characters each): bounds the time to compile them (~0.1 s).
MAX_TRANSLATED_PATTERNS_SIZE = 1_000_000
_MAX_CODE_POINT = 0x10FFFF
_DOTTED_I = {0x49, 0x69, 0x130, 0x131}  # I i İ ı: one case class in Python's re
_DOTTED_I_CLASS = r"[\x{49}\x{69}\x{130}\x{131}]"
_SIMPLE_ESCAPES = {"a": 0x7, "f": 0xC, "n": 0xA, "r": 0xD, "t": 0x9, "v": 0xB}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_BOUNDARY_HINT = (
    "word boundaries \\b and \\B are not supported (RE2's are ASCII-only); blocked "
    "patterns already match the whole value: drop them, or match the separator itself, "
    "e.g. [^\\w]+"
)
_GROUP_REFUSALS = {
    "(?=": "look-ahead (?=...) is not supported (RE2)",
    "(?!": "look-ahead (?!...) is not supported (RE2)",
    "(?<=": "look-behind (?<=...) is not supported (RE2)",
    "(?<!": "look-behind (?<!...) is not supported (RE2)",
    "(?P=": "back-references (?P=name) are not supported (RE2)",
    "(?(": "conditional groups (?(...)...) are not supported (RE2)",
    "(?>": "atomic groups (?>...) are not supported (RE2); write (?:...)",
    "(?#": "comments (?#...) are not supported (RE2); remove the comment",
}

_SURROGATE = re.compile("[\ud800-\udfff]")

Ranges = tuple[tuple[int, int], ...]


class PatternRefused(ValueError):
    """A blocked pattern RE2 cannot run with Python's meaning; says what to write instead."""


@cache
def _python_class(perl_class: str) -> Ranges:
    """The code points Python's ``re`` puts in ``\\w``, ``\\d`` or ``\\s``, as ranges."""
    every = "".join(chr(c) for c in range(_MAX_CODE_POINT + 1) if not 0xD800 <= c <= 0xDFFF)
    # Each match is a maximal run of consecutive code points (surrogates are in none).
    return tuple(
        (ord(found.group()[0]), ord(found.group()[-1]))
        for found in re.finditer(f"\\{perl_class}+", every)
    )


def _complement(ranges: Ranges) -> Ranges:
    result, start = [], 0
    for first, last in ranges:
        if first > start:
            result.append((start, first - 1))
        start = last + 1
    if start <= _MAX_CODE_POINT:
        result.append((start, _MAX_CODE_POINT))
    return tuple(result)


@cache
def _perl_class(letter: str) -> str:
    """RE2's text for Python's ``\\w`` ``\\W`` ``\\d`` ``\\D`` ``\\s`` ``\\S``, as a class."""
    ranges = _python_class(letter.lower())
    return _class_text(_complement(ranges) if letter.isupper() else ranges)


def _class_text(ranges: Ranges) -> str:
    items = "".join(
        f"\\x{{{first:x}}}" if first == last else f"\\x{{{first:x}}}-\\x{{{last:x}}}"
        for first, last in ranges
    )
    return f"[{items}]"


class _Translator:
    """One pass over a pattern, tracking whether (?i) is on in the current group."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.out: list[str] = []
        self.ignore_case = False
        self.saved: list[bool] = []

    def run(self) -> str:
        pattern = self.pattern
        while self.pos < len(pattern):
            char = pattern[self.pos]
            self.pos += 1
            if char == "\\":
                self.out.append(self._escape(in_class=False))
            elif char == "[":
                self.out.append(self._character_class())
            elif char == "(":
                self._open_group()
            elif char == ")":
                self.ignore_case = self.saved.pop() if self.saved else self.ignore_case
                self.out.append(")")
            elif char == "{" and (empty_min := re.match(r",(\d*)\}", pattern[self.pos :])):
                self.out.append(f"{{0,{empty_min.group(1)}}}")
                self.pos += empty_min.end()
            elif char in "*+?}" and pattern[self.pos : self.pos + 1] == "+":
                raise PatternRefused(
                    "possessive quantifiers (*+, ++, ?+, {n}+) are not supported (RE2)"
                )
            else:
                self.out.append(self._literal(ord(char), escaped=False))
        return "".join(self.out)

    def _literal(self, code: int, *, escaped: bool) -> str:
        if self.ignore_case and code in _DOTTED_I:
            return _DOTTED_I_CLASS
        return f"\\x{{{code:x}}}" if escaped else chr(code)

    def _open_group(self) -> None:
        rest = self.pattern[self.pos - 1 :]
        for prefix, reason in _GROUP_REFUSALS.items():
            if rest.startswith(prefix):
                raise PatternRefused(reason)
        self.saved.append(self.ignore_case)
        named = re.match(r"\(\?P?<(\w+)>", rest)
        if named:  # copied as is: the name is not text to match
            self.out.append(f"(?P<{named.group(1)}>")
            self.pos += named.end() - 1
            return
        flags = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", rest)
        if not flags:
            self.out.append("(")
            return
        on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
        unsupported = set(on + off) - set("ims")
        if unsupported:
            raise PatternRefused(
                f"flag {''.join(sorted(unsupported))} is not supported; use i, m or s"
            )
        ignore_case = ("i" in on) or (self.ignore_case and "i" not in off)
        if end == ")":  # (?i) sets the flag until the enclosing group closes
            self.saved.pop()
        self.ignore_case = ignore_case
        self.out.append(flags.group())
        self.pos += flags.end() - 1

    def _escape(self, *, in_class: bool) -> str:
        """The RE2 text of the escape after a backslash (as an item when ``in_class``)."""
        if self.pos >= len(self.pattern):
            raise PatternRefused("ends with a lone backslash")
        char = self.pattern[self.pos]
        self.pos += 1
        if char in "wWdDsS":
            return _perl_class(char)[1:-1] if in_class else _perl_class(char)
        code = self._escaped_code(char, in_class=in_class)
        if code is not None:
            return f"\\x{{{code:x}}}" if in_class else self._literal(code, escaped=True)
        if char in "pP":  # RE2's Unicode properties, e.g. \pL or \p{Greek}
            name = re.match(r"\{\w+\}|[A-Za-z]", self.pattern[self.pos :])
            if not name:
                raise PatternRefused("\\p and \\P need a property such as \\pL or \\p{Greek}")
            self.pos += name.end()
            return f"\\{char}{name.group()}"
        if not in_class and char in "AzZ":
            return "\\A" if char == "A" else "\\z"
        if char in "bB":
            raise PatternRefused(_BOUNDARY_HINT)
        raise PatternRefused(f"unknown escape \\{char}")

    def _escaped_code(self, char: str, *, in_class: bool) -> int | None:
        """The code point an escape stands for, or None if it is not a literal."""
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if in_class and char == "b":
            return 8  # backspace, as in Python
        if char in _HEX_ESCAPES:
            return self._hex(char)
        if char == "N":
            name = re.match(r"\{([^}]+)\}", self.pattern[self.pos :])
            if not name:
                raise PatternRefused("\\N needs a character name, e.g. \\N{EM DASH}")
            self.pos += name.end()
            try:
                return ord(unicodedata.lookup(name.group(1)))
            except KeyError:
                raise PatternRefused(f"unknown character name {name.group(1)}") from None
        if char.isdigit() and char.isascii():
            return self._octal_or_refuse(char, in_class=in_class)
        if not (char.isascii() and char.isalnum()):
            return ord(char)  # an escaped punctuation mark or non-ASCII character
        return None

    def _hex(self, char: str) -> int:
        rest = self.pattern[self.pos :]
        braced = re.match(r"\{([0-9a-fA-F]{1,6})\}", rest) if char == "x" else None
        digits = braced or re.match(f"[0-9a-fA-F]{{{_HEX_ESCAPES[char]}}}", rest)
        if not digits:
            raise PatternRefused(f"\\{char} needs {_HEX_ESCAPES[char]} hexadecimal digits")
        self.pos += digits.end()
        code = int(digits.group(1) if braced else digits.group(), 16)
        if code > _MAX_CODE_POINT or 0xD800 <= code <= 0xDFFF:
            raise PatternRefused(f"\\{char} names no Unicode character")
        return code

    def _octal_or_refuse(self, first: str, *, in_class: bool) -> int:
        """Python's rule: \\0.. or three octal digits is octal, else a back-reference."""
        octal = re.match(r"[0-7]{0,2}", self.pattern[self.pos :]).group()  # type: ignore[union-attr]
        if first == "0" or (first in "01234567" and (len(octal) == 2 or in_class)):
            self.pos += len(octal)
            code = int(first + octal, 8)
            if code > 0o377:
                raise PatternRefused(f"octal escape \\{first}{octal} is above \\377")
            return code
        raise PatternRefused("back-references (\\1, \\2...) are not supported (RE2)")

    def _character_class(self) -> str:
        pattern = self.pattern
        negated = pattern.startswith("^", self.pos)
        self.pos += negated
        items: list[str] = []
        codes: set[int] = set()
        first = True
        while True:
            if self.pos >= len(pattern):
                raise PatternRefused("unterminated character class [")
            char = pattern[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            low = self._class_member()
            if isinstance(low, str):
                items.append(low)
                continue
            high = low
            if pattern.startswith("-", self.pos) and not pattern.startswith("-]", self.pos):
                self.pos += 1
                high_member = self._class_member()
                if isinstance(high_member, str) or high_member < low:
                    raise PatternRefused("bad character range in a class")
                high = high_member
            items.append(f"\\x{{{low:x}}}" if low == high else f"\\x{{{low:x}}}-\\x{{{high:x}}}")
            codes.update(c for c in _DOTTED_I if low <= c <= high)
        if self.ignore_case and codes:
            items.append(_DOTTED_I_CLASS[1:-1])
        return f"[{'^' if negated else ''}{''.join(items)}]"

    def _class_member(self) -> int | str:
        """One member: a code point, or the RE2 text of a set (\\w, \\pL...)."""
        char = self.pattern[self.pos]
        self.pos += 1
        if char != "\\":
            return ord(char)  # "[" included: a literal in Python's classes
        start = self.pos
        text = self._escape(in_class=True)
        single = re.fullmatch(r"\\x\{([0-9a-f]+)\}", text)
        if single and self.pattern[start] not in "wWdDsSpP":
            return int(single.group(1), 16)
        return text


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # refusals become PatternRefused, not log lines
    options.max_mem = 64 << 20  # Unicode classes are large; matching stays linear
    return options


@lru_cache(maxsize=4096)
def translate(pattern: str) -> str:
    """The RE2 pattern meaning what ``pattern`` meant to Python's ``re`` (PatternRefused)."""
    return _Translator(pattern).run()


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern, or PatternRefused saying why it cannot run."""
    translated = translate(pattern)
    try:
        return re2.compile(translated, _options())
    except re2.error as err:
        detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
        raise PatternRefused(f"not a pattern RE2 can run: {detail}") from None


def check_runnable(fields: Sequence[tuple[str, str]]) -> None:
    """InvalidArgument naming the first (field, pattern) that RE2 cannot run, or that
    takes the translated patterns over their size budget (checked before compiling,
    the slow part). Every pattern has been translated once already."""
    size = 0
    for field, pattern in fields:
        size += len(translate(pattern))
        if size > MAX_TRANSLATED_PATTERNS_SIZE:
            raise InvalidArgument(
                field,
                "the rules' patterns use too many Unicode classes (\\w \\d \\s and their"
                " negations, about 80 in all): use fewer, or ranges such as [a-z0-9_]",
            )
    for field, pattern in fields:
        try:
            compile_pattern(pattern)
        except PatternRefused as refused:
            raise InvalidArgument(field, f"cannot be used: {refused}") from None


class BlockedMatcher:
    """Full matches against a list of patterns, combined into one RE2 program.

    Patterns RE2 cannot run are left out and listed in ``unusable`` (index, reason):
    rules stored before RE2 keep loading, and their owner is told which to fix.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        compiled: list[str] = []
        unusable: list[tuple[int, str]] = []
        for index, pattern in enumerate(patterns):
            try:
                compiled.append(compile_pattern(pattern).pattern)
            except PatternRefused as refused:
                unusable.append((index, str(refused)))
        self.unusable = tuple(unusable)
        self._programs: tuple[Any, ...] = ()
        if compiled:
            # (?i) inside (?:...) ends with the group in RE2: the patterns join as they are.
            try:
                self._programs = (re2.compile("|".join(f"(?:{p})" for p in compiled), _options()),)
            except re2.error:  # together above RE2's memory budget: one program each
                self._programs = tuple(re2.compile(p, _options()) for p in compiled)

    def fullmatch(self, value: str) -> bool:
        try:
            return any(program.fullmatch(value) is not None for program in self._programs)
        except UnicodeEncodeError:  # lone surrogates (from JSON): neither letters nor digits
            cleaned = _SURROGATE.sub("\ufffd", value)
            return any(program.fullmatch(cleaned) is not None for program in self._programs)


@lru_cache(maxsize=1024)
def blocked_matcher(patterns: tuple[str, ...]) -> BlockedMatcher:
    """The matcher of ``patterns``, shared: rules re-read every few seconds reuse it."""
    return BlockedMatcher(patterns)
