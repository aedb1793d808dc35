"""The one error of a rule that cannot be saved."""

from __future__ import annotations


class RuleSyntaxError(ValueError):
    """The rule cannot be used; `line` and `column` (1-based) locate it when known."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{where}{message}")
