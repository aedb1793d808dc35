"""The deadline of the incoming call being handled, for outbound propagation.

A separate tiny package so that both ``rapport.grpcserver`` (which sets it) and
``rapport.grpcclients`` (which reads it) import it without a cycle.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

__all__ = ["current_deadline_remaining", "reset_deadline", "set_deadline"]

# Absolute time.monotonic() deadline; None = no incoming call or no deadline.
_deadline: ContextVar[float | None] = ContextVar("rapport_incoming_deadline", default=None)


def set_deadline(remaining_seconds: float | None) -> Token[float | None]:
    """Record the incoming call's deadline (seconds from now)."""
    value = None if remaining_seconds is None else time.monotonic() + remaining_seconds
    return _deadline.set(value)


def reset_deadline(token: Token[float | None]) -> None:
    try:
        _deadline.reset(token)
    except ValueError:
        # An async generator finalised in another context: grpc runs each call
        # in its own task, so there is nothing left to restore.
        pass


def current_deadline_remaining() -> float | None:
    """Seconds left of the incoming call being handled; None outside a call."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - time.monotonic()
