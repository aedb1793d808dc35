"""The AIP-160 filter ListMessages takes: restrictions on `state`, joined by OR.

`state = DEAD_LETTERED`, `state = MESSAGE_STATE_QUEUED OR state = SCHEDULED`,
`state="FAILED"`. The grammar is deliberately the subset AIP-160 defines for one
enum field; anything else (other fields, AND, NOT, other operators, unknown states)
is refused with INVALID_ARGUMENT naming `filter`.
"""

from __future__ import annotations

import re

from rapport.errors import InvalidArgument

from .model import MessageState

MAX_FILTER_LENGTH = 1000
_PREFIX = "MESSAGE_STATE_"
_TERM = re.compile(r'\s*state\s*=\s*(?:"([A-Za-z_]+)"|([A-Za-z_]+))\s*')
_OR = re.compile(r"\s+OR\s+")


def _state(name: str) -> MessageState:
    upper = name.upper()
    if upper.startswith(_PREFIX):
        upper = upper[len(_PREFIX) :]
    try:
        return MessageState(upper)
    except ValueError:
        known = ", ".join(state.value for state in MessageState)
        raise InvalidArgument("filter", f"unknown state {name[:40]!r}; one of {known}") from None


def parse_state_filter(text: str) -> tuple[MessageState, ...]:
    """The states the filter keeps, in order, without repeats; () for an empty filter."""
    if not text.strip():
        return ()
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidArgument("filter", f"must be at most {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise InvalidArgument("filter", "must not contain NUL characters")
    body = text.strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    states: list[MessageState] = []
    for term in _OR.split(body):
        match = _TERM.fullmatch(term)
        if match is None:
            raise InvalidArgument(
                "filter",
                "must be `state = <STATE>` terms joined by OR, e.g. `state = DEAD_LETTERED`",
            )
        state = _state(match.group(1) or match.group(2))
        if state not in states:
            states.append(state)
    return tuple(states)
