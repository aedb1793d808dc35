"""When time-window triggers fire: date traits, years, offsets (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from rapport.decisioning.domain.model import Channel, Trigger, TriggerKind
from rapport.decisioning.domain.schedule import add_years, firing, too_late, trait_date

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
    assert renewal.fire_time == datetime(2027, 4, 1, tzinfo=UTC)
    birthday = firing(window(-60, 26), "2004-02-29")
    assert birthday is not None
    assert birthday.anchor == date(2030, 2, 28)  # 29 February in a common year
    assert birthday.fire_time == datetime(2029, 12, 30, tzinfo=UTC)
    assert firing(window(0, 150), "9990-01-01") is None


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
    assert found.fire_time.tzinfo is UTC and found.fire_time.hour == 0
