from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.consent.domain import names
from rapport.consent.domain.model import (
    Channel,
    ConsentDecision,
    ConsentEntry,
    ConsentState,
    Reason,
    current_state,
    decide,
    entry_in_force_at,
    known_channel,
    known_state,
)
from rapport.consent.domain.validation import (
    effective_time_or_default,
    require_channel,
    validate_channel,
    validate_purpose,
    validate_text,
)
from rapport.errors import InvalidArgument

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def entry(
    seq: int,
    state: ConsentState = ConsentState.GRANTED,
    *,
    effective: timedelta = timedelta(0),
    recorded: timedelta = timedelta(0),
) -> ConsentEntry:
    return ConsentEntry(
        id=f"e{seq}",
        workspace="default",
        customer_id="c1",
        purpose="marketing",
        channel=Channel.EMAIL,
        state=state,
        source="web_form",
        notice_version="",
        proof="",
        effective_time=T0 + effective,
        record_time=T0 + recorded,
        seq=seq,
    )


def test_nothing_recorded_is_an_opt_in_deny() -> None:
    decision = decide(None)
    assert (decision.allowed, decision.state, decision.reason, decision.entry) == (
        False,
        ConsentState.DENIED,
        Reason.NO_RECORD_DEFAULT_DENY,
        None,
    )


def test_granted_and_denied_entries_decide() -> None:
    granted, denied = entry(1), entry(2, ConsentState.DENIED)
    assert decide(granted).allowed and decide(granted).reason is Reason.GRANTED
    assert not decide(denied).allowed and decide(denied).reason is Reason.DENIED
    assert decide(denied).entry is denied


def test_an_unreadable_state_in_force_is_an_opt_in_deny() -> None:
    # A newer version's state may withdraw consent: an older grant must not answer.
    granted, unreadable = entry(1), replace(entry(2, effective=timedelta(minutes=1)), state=None)
    in_force = current_state([granted, unreadable], T0 + timedelta(minutes=2)).entry
    assert in_force is unreadable
    assert decide(in_force) == ConsentDecision(
        False, ConsentState.DENIED, Reason.UNREADABLE_RECORD_DEFAULT_DENY, unreadable
    )
    assert entry_in_force_at([granted, unreadable], T0 + timedelta(seconds=30)) is granted


def test_stored_values_this_version_does_not_know() -> None:
    assert known_channel("email") is Channel.EMAIL and known_channel("carrier_pigeon") is None
    assert known_state("denied") is ConsentState.DENIED and known_state("paused") is None
    with pytest.raises(ValueError):
        _ = replace(entry(1), channel=None).key  # never a key a check asks about


def test_latest_effective_time_wins_not_latest_recorded() -> None:
    # A decision captured earlier but recorded later does not override a newer one.
    newer = entry(1, ConsentState.DENIED, effective=timedelta(hours=2), recorded=timedelta(hours=2))
    late_upload = entry(
        2, ConsentState.GRANTED, effective=timedelta(hours=1), recorded=timedelta(hours=3)
    )
    assert entry_in_force_at([newer, late_upload], T0 + timedelta(hours=4)) is newer


def test_equal_effective_times_are_ordered_by_ledger_position() -> None:
    first, second = entry(1), entry(2, ConsentState.DENIED)
    assert entry_in_force_at([second, first], T0) is second


def test_past_state_only_uses_what_was_known_then() -> None:
    backdated = entry(1, effective=timedelta(hours=1), recorded=timedelta(hours=5))
    assert entry_in_force_at([backdated], T0 + timedelta(hours=2)) is None
    assert entry_in_force_at([backdated], T0 + timedelta(hours=5)) is backdated


def test_future_effective_entry_is_not_yet_in_force_and_bounds_the_cached_answer() -> None:
    now_entry = entry(1)
    ahead = entry(2, ConsentState.DENIED, effective=timedelta(minutes=3))
    state = current_state([now_entry, ahead], T0 + timedelta(minutes=1))
    assert state.entry is now_entry
    assert state.valid_until == T0 + timedelta(minutes=3)
    later = current_state([now_entry, ahead], T0 + timedelta(minutes=3))
    assert later.entry is ahead and later.valid_until is None


def test_entry_recorded_by_a_clock_ahead_of_ours_is_in_force_now() -> None:
    # Another replica's clock is 50 ms ahead: its write must still count at once.
    skewed = entry(1, effective=timedelta(milliseconds=50), recorded=timedelta(milliseconds=50))
    assert current_state([skewed], T0).entry is skewed


@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 20), st.sampled_from(list(ConsentState))),
        max_size=12,
    ),
    st.integers(-1, 22),
)
def test_entry_in_force_matches_a_sorted_scan(
    specs: list[tuple[int, int, ConsentState]], probe: int
) -> None:
    entries = [
        entry(
            seq, state, effective=timedelta(minutes=eff), recorded=timedelta(minutes=max(eff, rec))
        )
        for seq, (eff, rec, state) in enumerate(specs, start=1)
    ]
    at = T0 + timedelta(minutes=probe)
    known = sorted(
        (e for e in entries if e.effective_time <= at and e.record_time <= at),
        key=lambda e: (e.effective_time, e.seq),
    )
    assert entry_in_force_at(entries, at) == (known[-1] if known else None)


@pytest.mark.parametrize("purpose", ["marketing", "a", "renewals.2025", "x_y-z", "a" * 64])
def test_valid_purposes(purpose: str) -> None:
    assert validate_purpose(purpose, "record.purpose") == purpose


@pytest.mark.parametrize("purpose", ["", "Marketing", "1abc", "_x", "a b", "é", "a" * 65])
def test_invalid_purposes_name_the_field(purpose: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_purpose(purpose, "record.purpose")
    assert raised.value.field == "record.purpose"


def test_text_limits() -> None:
    assert validate_text("x" * 100, "record.source", max_chars=100, required=True)
    with pytest.raises(InvalidArgument):
        validate_text("x" * 101, "record.source", max_chars=100)
    with pytest.raises(InvalidArgument):
        validate_text("  ", "record.source", max_chars=100, required=True)
    assert validate_text("", "record.proof", max_chars=1000) == ""


def test_effective_time_defaults_to_record_time_and_may_not_be_far_ahead() -> None:
    assert effective_time_or_default(None, T0, "record.effective_time") == T0
    assert effective_time_or_default(T0 + timedelta(minutes=5), T0, "f") == T0 + timedelta(
        minutes=5
    )
    assert effective_time_or_default(T0 - timedelta(days=400), T0, "f") == T0 - timedelta(days=400)
    with pytest.raises(InvalidArgument) as raised:
        effective_time_or_default(
            T0 + timedelta(minutes=5, microseconds=1), T0, "record.effective_time"
        )
    assert raised.value.field == "record.effective_time"


def test_entry_names() -> None:
    e = replace(entry(1), id="r1")
    assert e.name == "workspaces/default/customers/c1/consentRecords/r1"
    assert e.customer_name == "workspaces/default/customers/c1"


def test_names_round_trip() -> None:
    record = names.consent_record_name("default", "c1", "r1")
    assert record == "workspaces/default/customers/c1/consentRecords/r1"
    assert names.parse_consent_record(record, field="name") == names.ConsentRecordName(
        "default", "c1", "r1"
    )
    customer = names.customer_name("brand2", "c9")
    assert names.parse_customer(customer, field="parent") == names.CustomerName("brand2", "c9")
    assert names.parse_workspace(names.workspace_name("default"), field="parent") == "default"


@pytest.mark.parametrize(
    "value",
    ["", "workspaces/default/customers/c1", "workspaces/default/customers/c1/consentRecords/R"],
)
def test_malformed_record_names_name_the_field(value: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        names.parse_consent_record(value, field="name")
    assert err.value.field == "name"


def test_the_inbound_channel_is_refused() -> None:
    assert require_channel(Channel.SMS, "record.channel") is Channel.SMS
    for check in (require_channel, validate_channel):
        with pytest.raises(InvalidArgument) as err:
            check(Channel.INBOUND, "record.channel")
        assert err.value.field == "record.channel"
    with pytest.raises(InvalidArgument):
        require_channel(None, "channel")
