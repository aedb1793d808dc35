"""What a consent check answered, and whether it lets a message go.

Consent is opt-in: nothing recorded for a purpose and channel answers no. That holds
for marketing. A transactional (service) message - a receipt, a shipping confirmation,
a password reset - rests on the contract, not on consent, so for a transactional
purpose nothing recorded means yes. A recorded denial (an unsubscribe, an SMS STOP, a
DENIED decision) stops it as it stops any message, and so does an answer that is
neither a grant nor "nothing recorded" (an entry consent itself cannot read).
"""

from __future__ import annotations

from enum import StrEnum


class ConsentAnswer(StrEnum):
    GRANTED = "GRANTED"
    # A recorded denial, or any answer that is neither a grant nor "nothing recorded".
    DENIED = "DENIED"
    # No decision recorded for the purpose and channel (consent's default answered).
    NO_RECORD = "NO_RECORD"


# The status-history reason of SENT for a transactional message that went out with no
# consent decision recorded for its purpose and channel (allowed by the contract).
SENT_WITHOUT_CONSENT_RECORD = "TRANSACTIONAL_NO_CONSENT_RECORD"


def allows(answer: ConsentAnswer, *, transactional: bool) -> bool:
    """Whether a message may go out on the answer of its purpose and channel."""
    if answer is ConsentAnswer.GRANTED:
        return True
    return transactional and answer is ConsentAnswer.NO_RECORD


def sent_reason(answer: ConsentAnswer, *, transactional: bool) -> str:
    """Why a message that went out on `answer` was allowed, when it was not a grant."""
    if transactional and answer is ConsentAnswer.NO_RECORD:
        return SENT_WITHOUT_CONSENT_RECORD
    return ""
