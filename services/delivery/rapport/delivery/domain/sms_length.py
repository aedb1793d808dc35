"""How long an SMS is on the air: its encoding and the segments it is split into.

An SMS carries 140 bytes. Text made only of GSM 03.38 characters goes as GSM-7 (160
septets); any other character makes the whole message UCS-2 (70 UTF-16 code units, so
an emoji outside the Basic Multilingual Plane counts 2). The extension table's
characters (`^{}[]~|\\€` and form feed) take an escape septet: 2 each. A longer text is
concatenated: each segment loses room to the header saying how to join them (153
septets, 67 code units), and phones never split a character across segments (an escape
pair or a surrogate pair moves whole to the next one), as carriers' and Twilio's
counters do. Carriers bill, and many cap, per segment: Twilio advises at most 10
(1,600 characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 basic character set (the escape 0x1B left out: it is not text).
GSM_7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape septet: two septets each.
GSM_7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT_GSM_7 = 160
CONCATENATED_SEGMENT_GSM_7 = 153
SINGLE_SEGMENT_UCS_2 = 70
CONCATENATED_SEGMENT_UCS_2 = 67
# The concatenation header numbers segments in one byte.
MAX_SEGMENTS = 255
DEFAULT_MAX_SEGMENTS = 10


class SmsEncoding(StrEnum):
    GSM_7 = "GSM_7"
    UCS_2 = "UCS_2"


@dataclass(frozen=True)
class SmsLength:
    encoding: SmsEncoding
    # Septets (GSM-7) or UTF-16 code units (UCS-2).
    units: int
    # 0 for an empty text.
    segments: int


def is_gsm_7(text: str) -> bool:
    """Whether every character of `text` is in the GSM 03.38 basic or extension table."""
    return all(char in GSM_7_BASIC or char in GSM_7_EXTENSION for char in text)


def _gsm_7_weight(char: str) -> int:
    return 2 if char in GSM_7_EXTENSION else 1


def _ucs_2_weight(char: str) -> int:
    # Outside the Basic Multilingual Plane: a surrogate pair.
    return 2 if ord(char) > 0xFFFF else 1


def measure(text: str) -> SmsLength:
    """The encoding `text` goes out in, its length in that encoding's units, and the
    number of segments it takes."""
    if is_gsm_7(text):
        encoding, weight = SmsEncoding.GSM_7, _gsm_7_weight
        single, concatenated = SINGLE_SEGMENT_GSM_7, CONCATENATED_SEGMENT_GSM_7
    else:
        encoding, weight = SmsEncoding.UCS_2, _ucs_2_weight
        single, concatenated = SINGLE_SEGMENT_UCS_2, CONCATENATED_SEGMENT_UCS_2
    weights = [weight(char) for char in text]
    units = sum(weights)
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0)
    segments, filled = 1, 0
    for each in weights:
        if filled + each > concatenated:  # the character moves whole to the next segment
            segments, filled = segments + 1, 0
        filled += each
    return SmsLength(encoding, units, segments)


def length_problem(text: str, max_segments: int) -> str | None:
    """Why `text` is too long to send as one SMS message of at most `max_segments`
    segments, or None. Never quotes the text (it is personal data)."""
    length = measure(text)
    if length.segments <= max_segments:
        return None
    unit = "septets" if length.encoding is SmsEncoding.GSM_7 else "UTF-16 code units"
    return (
        f"the SMS takes {length.segments} segments ({length.units} {unit}, "
        f"{length.encoding.value}); at most {max_segments} are sent"
    )
