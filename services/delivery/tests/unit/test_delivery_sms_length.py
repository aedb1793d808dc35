"""SMS encoding and segments (domain/sms_length.py): GSM-7 with its extension table,
UCS-2 with surrogate pairs, single and concatenated segment sizes, no character split
across segments; the segment limit of the deployment's policy. What a text without
template markup renders to, known before rendering; an SMS too long in best channel."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.delivery.domain import channel_choice
from rapport.delivery.domain.model import Channel, FailureReason
from rapport.delivery.domain.policy import SendingPolicy
from rapport.delivery.domain.rendering import render, rendered_without_variables
from rapport.delivery.domain.sms_length import (
    GSM_7_BASIC,
    GSM_7_EXTENSION,
    SmsEncoding,
    SmsLength,
    is_gsm_7,
    length_problem,
    measure,
)

GSM = SmsEncoding.GSM_7
UCS = SmsEncoding.UCS_2
GSM_CHARS = st.sampled_from(sorted(GSM_7_BASIC | GSM_7_EXTENSION))
BASIC_CHARS = st.sampled_from(sorted(GSM_7_BASIC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsLength(GSM, 0, 0)),
        ("a", SmsLength(GSM, 1, 1)),
        ("a" * 160, SmsLength(GSM, 160, 1)),
        ("a" * 161, SmsLength(GSM, 161, 2)),
        ("a" * 306, SmsLength(GSM, 306, 2)),
        ("a" * 307, SmsLength(GSM, 307, 3)),
        ("a" * 1530, SmsLength(GSM, 1530, 10)),
        ("a" * 1531, SmsLength(GSM, 1531, 11)),
        # The extension table: two septets each.
        ("€" * 80, SmsLength(GSM, 160, 1)),
        ("€" * 81, SmsLength(GSM, 162, 2)),
        ("a" * 159 + "^", SmsLength(GSM, 161, 2)),
        ("{}[]~|\\\f^€", SmsLength(GSM, 20, 1)),
        # Accented letters of the basic table keep GSM-7...
        ("Ça coûte 5€", SmsLength(UCS, 11, 1)),  # û is not in it
        ("Ça fait 5€ à Genève, Ñoño, ¿ok?", SmsLength(GSM, 32, 1)),
        ("\u0394\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e", SmsLength(GSM, 10, 1)),
        ("line\r\nbreak", SmsLength(GSM, 11, 1)),
        # ...any other character makes the whole message UCS-2.
        ("a" * 69 + "ç", SmsLength(UCS, 70, 1)),
        ("a" * 70 + "ç", SmsLength(UCS, 71, 2)),
        ("Привет" * 23, SmsLength(UCS, 138, 3)),
        ("x" * 134, SmsLength(GSM, 134, 1)),
        ("x" * 133 + "’", SmsLength(UCS, 134, 2)),  # a typographic apostrophe
        # Emoji outside the BMP are surrogate pairs: two code units each.
        ("😀" * 35, SmsLength(UCS, 70, 1)),
        ("😀" * 36, SmsLength(UCS, 72, 2)),
        ("a😀", SmsLength(UCS, 3, 1)),
        # The GSM escape itself and the Greek capitals' look-alikes are not GSM text.
        ("\x1b", SmsLength(UCS, 1, 1)),
        ("\u2126", SmsLength(UCS, 1, 1)),  # OHM SIGN, not GREEK CAPITAL OMEGA
        ("`", SmsLength(UCS, 1, 1)),
    ],
)
def test_encoding_units_and_segments(text: str, expected: SmsLength) -> None:
    assert measure(text) == expected


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 152 septets, then `€` (2): it does not fit the first segment's 153, so moves whole.
    text = "a" * 152 + "€" + "a" * 152
    assert measure(text) == SmsLength(GSM, 306, 3)
    assert measure("a" * 151 + "€" + "a" * 153) == SmsLength(GSM, 306, 2)


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    text = "ç" * 66 + "😀" + "ç" * 66
    assert measure(text) == SmsLength(UCS, 134, 3)
    assert measure("ç" * 65 + "😀" + "ç" * 67) == SmsLength(UCS, 134, 2)


def test_the_tables_hold_what_gsm_03_38_lists() -> None:
    assert len(GSM_7_BASIC) == 127  # 128 less the escape
    assert len(GSM_7_EXTENSION) == 10
    assert not GSM_7_BASIC & GSM_7_EXTENSION
    assert is_gsm_7("@£$¥èéùìòÇØøÅåΔ_ÆæßÉ¤¡ÄÖÑÜ§¿äöñüà")
    assert not is_gsm_7("ç")


@given(st.text(GSM_CHARS, max_size=2000))
def test_gsm_7_text_counts_one_septet_per_basic_and_two_per_extension(text: str) -> None:
    length = measure(text)
    assert length.encoding is GSM
    assert length.units == len(text) + sum(char in GSM_7_EXTENSION for char in text)


@given(st.text(BASIC_CHARS, max_size=3000))
def test_basic_gsm_7_segments_are_160_then_153_each(text: str) -> None:
    n = len(text)
    expected = 0 if n == 0 else 1 if n <= 160 else math.ceil(n / 153)
    assert measure(text).segments == expected


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=1500))
def test_any_text_fits_its_segments(text: str) -> None:
    length = measure(text)
    single, each = (160, 153) if length.encoding is GSM else (70, 67)
    if length.encoding is UCS:
        assert length.units == len(text.encode("utf-16-le")) // 2
        assert not is_gsm_7(text)
    if length.units == 0:
        assert length.segments == 0
    elif length.units <= single:
        assert length.segments == 1
    else:
        # At least as many as the units need; at most one more per segment for a
        # character moved whole (2 units) to the next one.
        assert math.ceil(length.units / each) <= length.segments
        assert length.segments <= math.ceil(length.units / (each - 1))


@given(st.text(max_size=400), st.text(max_size=400))
def test_more_text_never_takes_fewer_segments(text: str, more: str) -> None:
    assert measure(text + more).segments >= measure(text).segments


def test_length_problem_names_the_count_and_never_the_text() -> None:
    assert length_problem("a" * 1530, 10) is None
    problem = length_problem("secret " * 220, 10)
    assert problem == "the SMS takes 11 segments (1540 septets, GSM_7); at most 10 are sent"
    assert "secret" not in problem
    assert length_problem("😀" * 36, 1) == (
        "the SMS takes 2 segments (72 UTF-16 code units, UCS_2); at most 1 are sent"
    )


@pytest.mark.parametrize("limit", [0, -1, 256])
def test_the_policy_refuses_a_segment_limit_no_sms_can_have(limit: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 255"):
        SendingPolicy(max_sms_segments=limit)
    assert SendingPolicy().max_sms_segments == 10


# --- what is known before rendering; best channel ---------------------------------------------

# Text with the characters Jinja's markup and line breaks are made of, but no markup.
_MARKUP_FREE = st.text(
    alphabet=st.sampled_from(["{", "}", "%", "#", "\r", "\n", "-", "+", " ", "x", "é", "🎉"]),
    max_size=40,
).filter(lambda text: not any(start in text for start in ("{{", "{%", "{#")))


@given(_MARKUP_FREE)
def test_text_without_markup_renders_as_known_before_rendering(text: str) -> None:
    assert rendered_without_variables(text) == render(text, {"traits": {}, "data": {}})


@pytest.mark.parametrize("text", ["Hi {{ name }}", "{% if x %}a{% endif %}", "a {# note #}"])
def test_text_with_markup_is_known_only_when_rendered(text: str) -> None:
    assert rendered_without_variables(text) is None


def test_rendering_folds_line_breaks_as_jinja_does() -> None:
    assert rendered_without_variables("a\r\nb\rc\n") == "a\nb\nc\n"


def _choice(too_long: set[Channel]) -> channel_choice.Choice:
    candidates = (Channel.SMS, Channel.EMAIL)
    return channel_choice.choose(
        candidates,
        traits={"preferred_channel": "sms"},
        ranking=channel_choice.ChannelRanking(),
        reachability=lambda channel: None,
        consents={channel: True for channel in candidates},
        carries=lambda channel: True,
        now=datetime(2030, 1, 1, tzinfo=UTC),
        too_long=lambda channel: channel in too_long,
    )


def test_an_sms_too_long_is_not_usable_and_the_choice_says_so() -> None:
    choice = _choice({Channel.SMS})
    assert choice.ranked == (Channel.EMAIL,)
    record = channel_choice.chosen(choice, Channel.EMAIL)
    assert record.explanation == (
        "preferred SMS is too long; EMAIL is the lowest-cost usable channel"
    )
    assert [e.status for e in record.evaluations] == ["SMS_TOO_LONG", "USABLE"]
    nothing = _choice({Channel.SMS, Channel.EMAIL})
    assert (nothing.ranked, nothing.failure) == ((), FailureReason.SMS_TOO_LONG)
    assert nothing.selection.explanation == (
        "no candidate channel is usable: preferred SMS is too long, EMAIL is too long"
    )
