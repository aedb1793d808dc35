"""The opt-out notice of marketing SMS.

Carrier and regulator rules (CTIA's messaging principles, TCPA practice in the US)
expect recurring marketing SMS to say how to stop them. A marketing SMS whose rendered
text does not already say so gets its workspace's notice appended ("Reply STOP to opt
out." unless set otherwise; none where the workspace turned it off). Transactional SMS
carry none, as transactional email carries no unsubscribe link.

A text already says how to opt out when it gives one of the stop words inbound replies
are matched by as a keyword: after an instruction to send it ("reply stop", "Text END
to quit", "send 'STOP'"), in any case, or anywhere in capitals ("STOP to end"). A stop
word in ordinary prose ("Stop by our store", "ends at the end of May") is not an
instruction: such a message still gets the notice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# What an SMS reply says to opt out (the carriers' and Twilio's standard keywords).
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
DEFAULT_NOTICE = "Reply STOP to opt out."
# One GSM-7 segment: a notice longer than a whole SMS is a mistake.
MAX_NOTICE_LENGTH = 160
# The workspace key of the notice of every workspace without its own.
EVERY_WORKSPACE = "*"

_WORDS = "|".join(sorted(STOP_WORDS, key=len, reverse=True))
_INSTRUCTED = re.compile(
    rf"\b(?:reply|respond|text|txt|send|sms)(?:\s+with)?[\s:\"'“‘]+(?:{_WORDS})\b",
    re.IGNORECASE,
)
_IN_CAPITALS = re.compile(rf"\b(?:{_WORDS})\b")


def tells_how_to_opt_out(text: str) -> bool:
    """Whether `text` gives a stop word as the keyword to send (see the module doc)."""
    return bool(_INSTRUCTED.search(text) or _IN_CAPITALS.search(text))


def with_notice(text: str, notice: str) -> str:
    """`text` with `notice` on a line of its own at the end, unless it already says how
    to opt out (or there is no notice)."""
    if not notice or tells_how_to_opt_out(text):
        return text
    body = text.rstrip()
    return f"{body}\n{notice}" if body else notice


def notice_problem(notice: str) -> str | None:
    """Why `notice` cannot be a workspace's notice, or None."""
    if not notice.strip():
        return "must not be empty (set enabled to false for no notice)"
    if len(notice) > MAX_NOTICE_LENGTH:
        return f"must be at most {MAX_NOTICE_LENGTH} characters"
    if not notice.isprintable():
        return "must contain only printable characters (no line breaks)"
    if not tells_how_to_opt_out(notice):
        return (
            "must tell how to opt out with a stop word replies are matched by "
            f"(e.g. {DEFAULT_NOTICE!r}; stop words: {', '.join(sorted(STOP_WORDS))})"
        )
    return None


@dataclass(frozen=True)
class SmsOptOutPolicy:
    # Per workspace ("*": every workspace without its own), the notice its marketing SMS
    # carry; "" for none. A workspace neither names nor "*" covers gets DEFAULT_NOTICE.
    notices: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for workspace, notice in self.notices.items():
            if notice and (problem := notice_problem(notice)):
                raise ValueError(f"the SMS opt-out notice of {workspace} {problem}")

    def notice_for(self, workspace: str) -> str:
        if workspace in self.notices:
            return self.notices[workspace]
        return self.notices.get(EVERY_WORKSPACE, DEFAULT_NOTICE)

    def applied(self, text: str, workspace: str) -> str:
        """The text a marketing SMS of `workspace` goes out with."""
        return with_notice(text, self.notice_for(workspace))
