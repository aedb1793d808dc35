"""When time-window triggers fire: date traits, years, offsets, the local time of day on
the customer's clock across DST changes (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given
from hypothesis import strategies as st
from rapport.decisioning.domain.model import Channel, Trigger, TriggerKind
from rapport.decisioning.domain.schedule import (
    WindowTiming,
    add_years,
    firing,
    last_day,
    local_fire_time,
    send_time,
    too_late,
    trait_date,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def window(offset_days=-30, years_after=0) -> Trigger:
    return Trigger(
        workspace="default",
        trigger_id="t",
        event_name="",
        condition="",
        action_id="a",
        channel=Channel.EMAIL,
        create_time=NOW,
        kind=TriggerKind.TIME_WINDOW,
        date_trait="d",
        offset_days=offset_days,
        years_after=years_after,
    )


def test_dates_of_trait_values():
    assert trait_date("2027-05-01") == date(2027, 5, 1)
    assert trait_date("2027-05-01T23:30:00-02:00") == date(2027, 5, 2)
    assert trait_date("2027-05-01T10:00:00") == date(2027, 5, 1)
    for value in ("soon", "", 20270501, None, "2027-13-01", "x" * 50, True):
        assert trait_date(value) is None


def test_thirty_days_before_renewal_and_sixty_before_the_26th_birthday():
    renewal = firing(window(-30), "2027-05-01")
    assert renewal is not None
    assert renewal.anchor == date(2027, 5, 1)
    assert renewal.fire_time == datetime(2027, 4, 1, 9, tzinfo=UTC)  # 09:00 by default
    birthday = firing(window(-60, 26), "2004-02-29")
    assert birthday is not None
    assert birthday.anchor == date(2030, 2, 28)  # 29 February in a common year
    assert birthday.fire_time == datetime(2029, 12, 30, 9, tzinfo=UTC)
    assert firing(window(0, 150), "9990-01-01") is None


def test_a_firing_after_its_date_may_be_sent_until_its_own_day():
    assert last_day(date(2027, 1, 31), -30) == date(2027, 1, 31)
    assert last_day(date(2027, 1, 31), 0) == date(2027, 1, 31)
    assert last_day(date(2027, 1, 31), 7) == date(2027, 2, 7)
    assert last_day(date(9999, 12, 30), 7) == date.max


def test_a_firing_is_too_late_once_its_anchor_day_is_over():
    assert not too_late(date(2027, 1, 1), NOW + timedelta(hours=23))
    assert too_late(date(2027, 1, 1), NOW + timedelta(days=1))


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(min_value=-3660, max_value=3660),
    st.integers(min_value=0, max_value=150),
)
def test_firing_is_the_anchor_plus_the_offset(day, offset, years):
    found = firing(window(offset, years), day.isoformat())
    assert found is not None
    assert found.anchor == add_years(day, years)
    assert found.fire_time.date() - found.anchor == timedelta(days=offset)
    assert found.fire_time.tzinfo is UTC and found.fire_time.hour == 9


def test_the_customer_zone_and_the_configured_time_of_day():
    timing = WindowTiming.of(time(9), "time_zone", "America/New_York")
    # 1 April 2027 09:00 in Paris (CEST, +02:00) is 07:00 UTC.
    renewal = firing(window(-30), "2027-05-01", timing, PARIS)
    assert renewal is not None and renewal.fire_time == datetime(2027, 4, 1, 7, tzinfo=UTC)
    # Without a zone: the default zone's clock (New York, EDT -04:00).
    default = firing(window(-30), "2027-05-01", timing)
    assert default is not None and default.fire_time == datetime(2027, 4, 1, 13, tzinfo=UTC)
    late = WindowTiming.of(time(17, 30), "tz", "UTC")
    evening = firing(window(0), "2027-01-15", late, PARIS)  # CET, +01:00
    assert evening is not None and evening.fire_time == datetime(2027, 1, 15, 16, 30, tzinfo=UTC)


def test_unknown_zones_fall_back_to_the_default_and_never_crash():
    assert WindowTiming.of(time(9), "time_zone", "Mars/Olympus").default_zone.key == "UTC"
    assert WindowTiming.of(time(9), "time_zone", "../../etc/passwd").default_zone.key == "UTC"
    timing = WindowTiming.of(time(9), "time_zone", "Europe/Paris")
    for value in ("Mars/Olympus", "", None, 3, "x" * 500, "/etc", "Europe/../UTC", ["UTC"]):
        assert timing.zone_of(value) is timing.default_zone
    assert timing.zone_of("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")


def test_the_customer_zone_reads_only_the_configured_trait():
    timing = WindowTiming.of(time(9), "home_zone", "Europe/Paris")
    assert timing.customer_zone({"home_zone": "Asia/Tokyo"}) == ZoneInfo("Asia/Tokyo")
    assert timing.customer_zone({"time_zone": "Asia/Tokyo"}) == ZoneInfo("Europe/Paris")
    assert timing.customer_zone({"home_zone": "Mars/Olympus"}) == ZoneInfo("Europe/Paris")
    assert timing.customer_zone({}) == ZoneInfo("Europe/Paris")
    # No (valid) default zone either: UTC.
    assert WindowTiming.of(time(9), "home_zone", "Mars/Olympus").customer_zone({}).key == "UTC"


def test_dst_edges():
    # Paris springs forward on 28 March 2027 (02:00 -> 03:00) and falls back on
    # 31 October 2027 (03:00 -> 02:00).
    assert local_fire_time(date(2027, 3, 27), time(9), PARIS) == datetime(
        2027, 3, 27, 8, tzinfo=UTC
    )
    assert local_fire_time(date(2027, 3, 28), time(9), PARIS) == datetime(
        2027, 3, 28, 7, tzinfo=UTC
    )
    # A wall time the jump skips fires at the offset before it: 03:30 on the new clock.
    skipped = local_fire_time(date(2027, 3, 28), time(2, 30), PARIS)
    assert skipped == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert skipped.astimezone(PARIS).time() == time(3, 30)
    # A repeated wall time fires once, at its first occurrence (still CEST, +02:00).
    assert local_fire_time(date(2027, 10, 31), time(2, 30), PARIS) == datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC
    )
    assert local_fire_time(date(2027, 10, 31), time(9), PARIS) == datetime(
        2027, 10, 31, 8, tzinfo=UTC
    )
    # New York: 14 March 2027 springs forward, 7 November 2027 falls back.
    assert local_fire_time(date(2027, 3, 14), time(9), NEW_YORK) == datetime(
        2027, 3, 14, 13, tzinfo=UTC
    )
    assert local_fire_time(date(2027, 11, 7), time(9), NEW_YORK) == datetime(
        2027, 11, 7, 14, tzinfo=UTC
    )


@given(
    st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 12, 31)),
    st.times(),
    st.sampled_from(ZONES),
)
def test_a_firing_is_on_the_local_day_at_the_local_time_unless_a_jump_skips_it(day, at, name):
    zone = ZoneInfo(name)
    moment = local_fire_time(day, at, zone)
    assert moment.tzinfo is UTC
    local = moment.astimezone(zone)
    wall = datetime.combine(day, at)
    if local.replace(tzinfo=None) != wall:
        # Only a skipped wall time moves, forward, by the size of the jump (< 1 day).
        assert timedelta(0) < local.replace(tzinfo=None) - wall < timedelta(days=1)
        assert datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone) == local
    else:
        # A repeated wall time: its first occurrence.
        assert local.fold == 0


@given(
    st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 12, 31)),
    st.sampled_from(
        [
            "Europe/Paris",
            "America/New_York",
            "Australia/Sydney",
            "Pacific/Auckland",
            "America/Sao_Paulo",
            "Asia/Kolkata",
            "Pacific/Kiritimati",
            "Pacific/Pago_Pago",
        ]
    ),
)
def test_nine_in_the_morning_is_that_day_at_nine_locally(day, name):
    # These zones change their clocks at night: 09:00 exists and is unique.
    zone = ZoneInfo(name)
    local = local_fire_time(day, time(9), zone).astimezone(zone)
    assert (local.date(), local.time()) == (day, time(9))


def test_too_late_is_on_the_customer_clock():
    anchor = date(2027, 1, 1)
    # 04:00 UTC on 2 January is still 1 January in New York, but 2 January in Paris.
    moment = datetime(2027, 1, 2, 4, tzinfo=UTC)
    assert not too_late(anchor, moment, NEW_YORK)
    assert too_late(anchor, moment, PARIS)


LONDON = ZoneInfo("Europe/London")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_a_firing_is_sent_at_its_time_or_within_the_hour_after():
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    anchor = date(2026, 12, 31)
    for now in (at - timedelta(days=3), at, at + timedelta(minutes=59), at + timedelta(hours=1)):
        assert send_time(at, anchor, now, WindowTiming(), LONDON) == at


def test_a_late_firing_waits_for_the_next_local_fire_time():
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)  # 09:00 in London
    anchor = date(2026, 12, 31)
    evening = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    assert send_time(at, anchor, evening, WindowTiming(), LONDON) == datetime(
        2026, 12, 2, 9, tzinfo=UTC
    )
    # Days late, before today's fire time: today's.
    early = datetime(2026, 12, 5, 7, tzinfo=UTC)
    assert send_time(at, anchor, early, WindowTiming(), LONDON) == datetime(
        2026, 12, 5, 9, tzinfo=UTC
    )
    # On the customer's clock: 21:30 UTC is 06:30 the next day in Tokyo, 09:00 is to come.
    assert send_time(at, anchor, evening, WindowTiming(), TOKYO) == datetime(
        2026, 12, 2, 0, tzinfo=UTC
    )


def test_the_lateness_allowed_is_a_setting():
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    evening = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    all_day = WindowTiming.of(time(9), "timezone", "UTC", timedelta(days=1))
    assert send_time(at, date(2026, 12, 31), evening, all_day, LONDON) == at


def test_a_late_firing_whose_window_ends_first_is_dropped():
    at = datetime(2026, 11, 1, 9, tzinfo=UTC)
    evening = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    assert send_time(at, date(2026, 12, 1), evening, WindowTiming(), LONDON) is None
    assert send_time(at, date(2026, 11, 30), evening, WindowTiming(), LONDON) is None
    morning = datetime(2026, 12, 1, 7, tzinfo=UTC)
    assert send_time(at, date(2026, 12, 1), morning, WindowTiming(), LONDON) == datetime(
        2026, 12, 1, 9, tzinfo=UTC
    )


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(min_value=0, max_value=3 * 24 * 60),
    st.sampled_from(ZONES),
)
def test_a_late_firing_goes_at_the_local_fire_time_within_a_day(fire, late_minutes, name):
    zone = ZoneInfo(name)
    at = fire.replace(tzinfo=UTC)
    now = at + timedelta(minutes=late_minutes)
    sent = send_time(at, date(2100, 1, 1), now, WindowTiming(), zone)
    assert sent is not None
    if sent != at:
        assert now <= sent <= now + timedelta(days=1, hours=3)
        assert sent == local_fire_time(sent.astimezone(zone).date(), time(9), zone)
