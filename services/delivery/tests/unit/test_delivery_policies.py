"""Pure rules of when and where messages go: quiet hours, frequency caps, best channel."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.delivery.domain import channel_choice
from rapport.delivery.domain.channel_choice import ChannelRanking, choose, chosen
from rapport.delivery.domain.frequency_caps import (
    CapPolicy,
    CapRule,
    Counted,
    OnExceed,
    room_time,
    verdict,
)
from rapport.delivery.domain.model import Channel, FailureReason
from rapport.delivery.domain.quiet_hours import QuietHours, QuietHoursPolicy

PARIS = ZoneInfo("Europe/Paris")
NIGHT = QuietHours(start=time(21), end=time(8), default_zone=PARIS)


def at(text: str, zone: ZoneInfo = PARIS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


# --- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "release"),
    [
        ("2030-01-10T22:30", "2030-01-11T08:00"),  # before midnight: ends tomorrow
        ("2030-01-11T03:00", "2030-01-11T08:00"),  # after midnight: ends today
        ("2030-01-10T21:00", "2030-01-11T08:00"),  # the start is inside
        ("2030-01-11T08:00", None),  # the end is outside
        ("2030-01-11T12:00", None),
        ("2030-01-10T20:59", None),
    ],
)
def test_overnight_quiet_hours(now: str, release: str | None) -> None:
    expected = at(release).astimezone(UTC) if release else None
    assert NIGHT.release_time(at(now), PARIS) == expected


def test_daytime_quiet_hours() -> None:
    lunch = QuietHours(start=time(12), end=time(14))
    assert lunch.release_time(at("2030-01-10T13:00", UTC), UTC) == at("2030-01-10T14:00", UTC)
    assert lunch.release_time(at("2030-01-10T11:59", UTC), UTC) is None


def test_quiet_hours_across_a_daylight_saving_change() -> None:
    # Paris springs forward on 2030-03-31 (02:00 -> 03:00): 08:00 that morning is UTC+2.
    release = NIGHT.release_time(at("2030-03-30T23:00"), PARIS)
    assert release == datetime(2030, 3, 31, 6, 0, tzinfo=UTC)
    # A window ending at 02:30, a time that does not exist that day: just after the jump.
    short = QuietHours(start=time(1), end=time(2, 30), default_zone=PARIS)
    release = short.release_time(at("2030-03-31T01:30"), PARIS)
    assert release is not None and release > at("2030-03-31T01:30").astimezone(UTC)
    assert short.release_time(release, PARIS) is None


def test_the_customers_zone_wins_and_an_unknown_one_falls_back() -> None:
    policy = QuietHoursPolicy({"default": NIGHT}, time_zone_trait="tz")
    now = datetime(2030, 1, 10, 13, 0, tzinfo=UTC)  # 14:00 in Paris, 22:00 in Tokyo
    tokyo = policy.release_time("default", Channel.SMS, {"tz": "Asia/Tokyo"}, now)
    assert tokyo == datetime(2030, 1, 10, 23, 0, tzinfo=UTC)  # 08:00 in Tokyo
    assert policy.release_time("default", Channel.SMS, {"tz": "Mars/Base"}, now) is None
    assert policy.release_time("default", Channel.SMS, {}, now) is None
    # The inbox waits for nobody; other workspaces have no quiet hours.
    assert policy.release_time("default", Channel.IN_APP, {"tz": "Asia/Tokyo"}, now) is None
    assert policy.release_time("brand-b", Channel.SMS, {"tz": "Asia/Tokyo"}, now) is None


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)))
def test_a_release_is_always_later_and_outside_the_window(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    release = NIGHT.release_time(now, PARIS)
    if release is not None:
        assert now < release <= now + timedelta(hours=12)
        assert NIGHT.release_time(release, PARIS) is None


# --- frequency caps ------------------------------------------------------------------------------

WEEK = timedelta(days=7)
EMAIL_WEEKLY = CapRule(limit=1, window=WEEK, purpose="marketing", channel=Channel.EMAIL)
SMS_WEEKLY = CapRule(limit=1, window=WEEK, purpose="marketing", channel=Channel.SMS)
THREE_IN_ALL = CapRule(limit=3, window=WEEK, purpose="marketing")
POLICY = CapPolicy((EMAIL_WEEKLY, SMS_WEEKLY, THREE_IN_ALL), frozenset({"transactional"}))
NOW = datetime(2030, 1, 10, tzinfo=UTC)


def test_rules_match_by_purpose_and_channel_and_spare_transactional_messages() -> None:
    assert POLICY.rules_for("default", "marketing", Channel.EMAIL) == [EMAIL_WEEKLY, THREE_IN_ALL]
    assert POLICY.rules_for("default", "marketing", Channel.PUSH) == [THREE_IN_ALL]
    assert POLICY.rules_for("default", "transactional", Channel.EMAIL) == []
    assert POLICY.rules_for("default", "renewals", Channel.EMAIL) == []


def test_one_email_and_one_sms_a_week_three_in_all() -> None:
    email = Counted("marketing", Channel.EMAIL, NOW - timedelta(days=2))
    found = verdict(POLICY.rules_for("default", "marketing", Channel.EMAIL), [email], NOW)
    assert not found.allowed and [c.rule for c in found.full] == [EMAIL_WEEKLY]
    assert found.full[0].room_time == email.time + WEEK
    assert found.describe() == "at most 1 marketing EMAIL message per 7 days"
    assert verdict(POLICY.rules_for("default", "marketing", Channel.SMS), [email], NOW).allowed
    pushes = [Counted("marketing", Channel.PUSH, NOW - timedelta(hours=h)) for h in (1, 2, 3)]
    found = verdict(POLICY.rules_for("default", "marketing", Channel.PUSH), pushes, NOW)
    assert [c.rule for c in found.full] == [THREE_IN_ALL]
    # Out of the window, a message no longer counts.
    old = Counted("marketing", Channel.EMAIL, NOW - WEEK)
    assert verdict([EMAIL_WEEKLY], [old], NOW).allowed


def test_deferral_waits_for_every_full_rule_and_cap_wins() -> None:
    defer_email = CapRule(limit=1, window=WEEK, channel=Channel.EMAIL, on_exceed=OnExceed.DEFER)
    defer_all = CapRule(limit=2, window=timedelta(days=1), on_exceed=OnExceed.DEFER)
    counted = [
        Counted("marketing", Channel.EMAIL, NOW - timedelta(days=3)),
        Counted("marketing", Channel.SMS, NOW - timedelta(hours=1)),
    ]
    found = verdict([defer_email, defer_all], counted, NOW)
    assert found.defer_until == max(NOW + timedelta(days=4), NOW + timedelta(hours=23))
    assert verdict([defer_email, EMAIL_WEEKLY], counted, NOW).defer_until is None


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), st.integers(1, 5))
def test_room_time_frees_exactly_enough(ages: list[int], limit: int) -> None:
    rule = CapRule(limit=limit, window=timedelta(seconds=20_000))
    times = [NOW - timedelta(seconds=age) for age in ages]
    room = room_time(times, rule)
    if len(times) < limit:
        assert room is None
        return
    assert room is not None
    still_counted = [t for t in times if t > room - rule.window]
    assert len(still_counted) <= limit - 1  # one more fits then, not before
    just_before = room - timedelta(microseconds=1)
    assert len([t for t in times if t > just_before - rule.window]) >= limit


# --- best channel --------------------------------------------------------------------------------


def ranked(
    traits: dict,
    *,
    reachable: set[Channel],
    consented: set[Channel],
    candidates: tuple[Channel, ...] = (Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.IN_APP),
) -> channel_choice.Choice:
    return choose(
        candidates,
        traits=traits,
        ranking=ChannelRanking(preference_trait="preferred_channel"),
        reachability=lambda c: None if c in reachable else FailureReason.NO_ADDRESS,
        consents={c: c in consented for c in candidates},
        carries=lambda c: True,
        now=NOW,
    )


def test_the_stated_preference_comes_first_then_the_cost_order() -> None:
    everything = {Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.IN_APP}
    choice = ranked({"preferred_channel": "sms"}, reachable=everything, consented=everything)
    assert choice.ranked == (Channel.SMS, Channel.IN_APP, Channel.PUSH, Channel.EMAIL)
    record = chosen(choice, Channel.SMS)
    assert (record.reason, record.explanation) == (
        "PREFERRED_CHANNEL",
        "SMS is the customer's preferred channel",
    )
    choice = ranked(
        {"preferred_channel": ["Push", "in-app", "pigeon"]},
        reachable=everything,
        consented=everything,
    )
    assert choice.ranked[:2] == (Channel.PUSH, Channel.IN_APP)


def test_without_consent_or_address_the_next_usable_channel_is_chosen() -> None:
    choice = ranked(
        {"preferred_channel": "sms"},
        reachable={Channel.EMAIL, Channel.SMS},
        consented={Channel.EMAIL},
    )
    assert choice.ranked == (Channel.EMAIL,)
    record = chosen(choice, Channel.EMAIL)
    assert record.reason == "LOWEST_COST"
    assert record.explanation == (
        "preferred SMS has no consent, IN_APP is not reachable, PUSH is not reachable; "
        "EMAIL is the lowest-cost usable channel"
    )
    statuses = {e.channel: e.status for e in record.evaluations}
    assert statuses == {
        Channel.SMS: "NO_CONSENT",
        Channel.EMAIL: "USABLE",
        Channel.PUSH: "NO_ADDRESS",
        Channel.IN_APP: "NO_ADDRESS",
    }


def test_nothing_usable_is_a_suppression_when_consent_was_missing() -> None:
    denied = ranked({}, reachable={Channel.EMAIL}, consented=set())
    assert (denied.ranked, denied.failure) == ((), FailureReason.CONSENT_DENIED)
    unreachable = ranked({}, reachable=set(), consented={Channel.EMAIL})
    assert unreachable.failure is FailureReason.NO_ADDRESS
    assert unreachable.selection.explanation.startswith("no candidate channel is usable")
