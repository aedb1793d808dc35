"""What a trigger did for one customer on one signal: sent, skipped or failed, and why.

One activity per (trigger, signal) whose condition held or could not be evaluated, and
per time-window firing; its id derives from the trigger, the customer and the signal,
so a replayed signal finds the activity it already left. Reasons are codes, never the
text of an error (a rule error's text may quote the customer's values).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from .model import Decision

# Longest reason kept (a peer's `<service>:<reason>` is cut there).
MAX_REASON_CHARS = 128


class ActivityOutcome(enum.Enum):
    SENT = "sent"
    # Nothing sent, by a business rule (throttle, decision, profile gone, too late).
    SKIPPED = "skipped"
    # Nothing sent: the trigger could not act (rule error, a peer refused...).
    FAILED = "failed"


class ActivitySignal(enum.Enum):
    """What the trigger acted on."""

    EVENT_SEEN = "event_seen"
    TRAIT_CHANGED = "trait_changed"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    LIFE_STAGE_CHANGED = "life_stage_changed"
    TIME_WINDOW = "time_window"


@dataclass(frozen=True)
class SignalRef:
    """Which signal an activity is about, as an activity shows it (no personal value:
    a time window's key holds a date trait's value, so only its kind is shown)."""

    kind: ActivitySignal
    # Profile's signal cursor; '' for a time-window firing.
    cursor: str = ""
    # An event's message id; '' for the other kinds.
    event_message_id: str = ""


@dataclass(frozen=True)
class TriggerActivity:
    workspace: str
    trigger_id: str
    activity_id: str
    customer: str
    signal: SignalRef
    outcome: ActivityOutcome
    reason: str
    create_time: datetime
    decision_id: str = ""
    # Delivery's name of the message it accepted ('' for none).
    message: str = ""


def activity_id(trigger_id: str, customer: str, signal_key: str) -> str:
    """The same for a replayed signal (`signal_key`: the event's message id, or the key
    derived for a signal of another kind), so a replay finds the activity."""
    digest = hashlib.sha256(f"activity\x1f{trigger_id}\x1f{customer}\x1f{signal_key}".encode())
    return digest.hexdigest()[:32]


def reason_code(reason: str) -> str:
    """A reason as stored: at most MAX_REASON_CHARS."""
    return reason[:MAX_REASON_CHARS]


def skip_reason(decision: Decision, action: str) -> str | None:
    """Why the triggered decision did not choose `action` (the exclusion's reason, else
    NOT_CHOSEN); None when it chose it."""
    if decision.actions:
        return None
    excluded = next((e for e in decision.excluded if e.action == action), None)
    return excluded.reason.value if excluded is not None else "NOT_CHOSEN"
