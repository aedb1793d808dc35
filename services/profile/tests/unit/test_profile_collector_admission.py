"""The collector's admission: a token bucket per write key (a second's worth of burst,
at least one request) and a bound on requests being ingested at once; refusals say when to retry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.profile.entrypoints.collector_admission import CollectorAdmission


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_write_key_over_its_rate_waits_and_others_do_not() -> None:
    clock = Clock()
    admission = CollectorAdmission(max_in_flight=100, requests_per_second=2, clock=clock)
    assert admission.admit("a") is None and admission.admit("a") is None  # a second's burst
    assert admission.admit("a") == 1
    assert admission.admit("b") is None  # another source has its own bucket
    clock.now += 0.5  # one request's worth refilled
    assert admission.admit("a") is None
    assert admission.admit("a") == 1
    clock.now += 60  # never more than a second's worth saved up
    assert [admission.admit("a") for _ in range(3)] == [None, None, 1]


def test_a_slow_rate_says_how_long_to_wait() -> None:
    clock = Clock()
    admission = CollectorAdmission(max_in_flight=10, requests_per_second=0.25, clock=clock)
    # The bucket holds at least one request, refilled at a quarter a second.
    assert admission.admit("a") is None
    assert admission.admit("a") == 4
    clock.now += 3
    assert admission.admit("a") == 1  # three quarters there, a quarter to go
    clock.now += 1
    assert admission.admit("a") is None


def test_too_many_in_flight_are_refused_until_one_ends() -> None:
    admission = CollectorAdmission(max_in_flight=2, requests_per_second=0)
    assert admission.admit("a") is None and admission.admit("b") is None
    assert admission.admit("c") == 1
    admission.release()
    assert admission.admit("c") is None


def test_a_refusal_takes_no_slot_and_no_token() -> None:
    clock = Clock()
    admission = CollectorAdmission(max_in_flight=1, requests_per_second=1, clock=clock)
    assert admission.admit("a") is None
    assert admission.admit("b") == 1  # in flight: b's token is not spent
    admission.release()
    assert admission.admit("b") is None


@pytest.mark.parametrize(
    ("max_in_flight", "rate"), [(0, 1.0), (1, -1.0), (1, math.inf), (1, math.nan)]
)
def test_settings_out_of_range_are_refused(max_in_flight: int, rate: float) -> None:
    with pytest.raises(ValueError):
        CollectorAdmission(max_in_flight=max_in_flight, requests_per_second=rate)


@given(
    rate=st.floats(min_value=0.01, max_value=500),
    steps=st.lists(st.floats(min_value=0, max_value=5), max_size=20),
)
def test_never_more_than_the_burst_plus_the_rate_over_time(rate: float, steps: list[float]) -> None:
    clock = Clock()
    admission = CollectorAdmission(max_in_flight=10**9, requests_per_second=rate, clock=clock)
    taken = 0
    for step in steps:
        clock.now += step
        while admission.admit("a") is None:
            taken += 1
        retry = admission.admit("a")
        assert retry is not None and retry >= 1
    assert taken <= max(1.0, rate) + rate * sum(steps) + 1e-6
