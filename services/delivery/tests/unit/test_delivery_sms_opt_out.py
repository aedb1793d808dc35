"""The opt-out notice rule of marketing SMS (domain/sms_opt_out.py)."""

from __future__ import annotations

import pytest
from rapport.delivery.domain.sms_opt_out import (
    DEFAULT_NOTICE,
    STOP_WORDS,
    SmsOptOutPolicy,
    notice_problem,
    tells_how_to_opt_out,
    with_notice,
)


@pytest.mark.parametrize(
    "text",
    [
        "Reply STOP to opt out",
        "reply stop to unsubscribe",
        "Sale today! Text STOP to end",
        "text stop to end",
        "Reply with 'stop' to cancel",
        "Msg&data rates may apply. Reply HELP for help, STOP to cancel.",
        "Send: quit",
        "Txt END 2 quit",
        *(f"Reply {word.lower()}" for word in STOP_WORDS),
        *(f"{word} to opt out" for word in STOP_WORDS),
    ],
)
def test_texts_that_say_how_to_opt_out(text: str) -> None:
    assert tells_how_to_opt_out(text)
    assert with_notice(text, DEFAULT_NOTICE) == text


@pytest.mark.parametrize(
    "text",
    [
        "Stop by our store this weekend",
        "Sale ends at the end of May",
        "Don't miss out: unstoppable deals",
        "Reply, stop by, and save",
        "Our STOPWATCH sale",
        "Cancel anytime",
        "",
    ],
)
def test_texts_that_do_not(text: str) -> None:
    assert not tells_how_to_opt_out(text)


def test_the_notice_goes_on_a_line_of_its_own() -> None:
    assert (
        with_notice("Sale: 10% off  \n", DEFAULT_NOTICE) == "Sale: 10% off\nReply STOP to opt out."
    )
    assert with_notice("  ", DEFAULT_NOTICE) == DEFAULT_NOTICE
    assert with_notice("Sale", "") == "Sale"


def test_the_policy_per_workspace() -> None:
    assert SmsOptOutPolicy().applied("Sale", "default") == "Sale\nReply STOP to opt out."
    policy = SmsOptOutPolicy({"*": "", "acme": "Txt STOP to end"})
    assert policy.applied("Sale", "default") == "Sale"
    assert policy.applied("Sale", "acme") == "Sale\nTxt STOP to end"
    assert SmsOptOutPolicy({"acme": ""}).applied("Sale", "other") == "Sale\n" + DEFAULT_NOTICE
    with pytest.raises(ValueError, match="must tell how to opt out"):
        SmsOptOutPolicy({"*": "Opt out at example.com"})


@pytest.mark.parametrize(
    ("notice", "problem"),
    [
        (DEFAULT_NOTICE, None),
        ("Txt STOP to end msgs", None),
        ("", "must not be empty"),
        ("Opt out online", "must tell how to opt out"),
        ("Reply STOP\nto opt out", "printable"),
        ("Reply STOP " + "x" * 160, "at most 160"),
    ],
)
def test_what_a_notice_may_be(notice: str, problem: str | None) -> None:
    found = notice_problem(notice)
    assert found == problem if problem is None else (found is not None and problem in found)
