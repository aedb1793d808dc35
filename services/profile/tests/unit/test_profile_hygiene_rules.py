"""Data hygiene rules (pure): retention cutoffs per event name, policy validation, the
collector's write key settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.errors import InvalidArgument
from rapport.profile.domain.hygiene import (
    HygienePolicy,
    InactivityAction,
    InactivityRule,
    retention_name,
    validated_policy,
)
from rapport.profile.settings import ProfileSettings

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_cutoffs_per_name_and_default() -> None:
    policy = HygienePolicy("w", 365, {"Page Viewed": 30, "identify": 0})
    named, default = policy.retention_cutoffs(NOW)
    assert named == {"Page Viewed": NOW - timedelta(days=30)}  # 0 keeps forever
    assert default == NOW - timedelta(days=365)
    assert HygienePolicy("w").retention_cutoffs(NOW) == ({}, None)


def test_events_without_a_name_are_retained_by_type() -> None:
    assert retention_name("track", "Order Completed") == "Order Completed"
    assert retention_name("identify", "") == "identify"


@given(days=st.integers(-10_000, 100_000))
def test_days_outside_the_range_are_named(days: int) -> None:
    policy = HygienePolicy("w", default_retention_days=days)
    if 0 <= days <= 36_500:
        assert validated_policy(policy, "p") is policy
    else:
        with pytest.raises(InvalidArgument) as raised:
            validated_policy(policy, "p")
        assert raised.value.field == "p.default_retention_days"


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (HygienePolicy("w", event_retention_days={"": 3}), "p.event_retention_days['']"),
        (HygienePolicy("w", event_retention_days={"a": -1}), "p.event_retention_days['a']"),
        (
            HygienePolicy("w", event_retention_days={f"e{n}": 1 for n in range(1001)}),
            "p.event_retention_days",
        ),
        (
            HygienePolicy("w", inactivity=InactivityRule("x\x00", 3, InactivityAction.REPORT)),
            "p.inactivity.event_name",
        ),
        (
            HygienePolicy("w", inactivity=InactivityRule("Opened", 0, InactivityAction.DELETE)),
            "p.inactivity.inactive_days",
        ),
    ],
)
def test_bad_policies_name_the_field(policy: HygienePolicy, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validated_policy(policy, "p")
    assert raised.value.field == field


def test_write_keys_from_settings_and_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"write_keys": {"k-file": "default", "k-both": "default"}}))
    settings = ProfileSettings(
        workspaces=["default", "b"], write_keys={"k-both": "b"}, write_keys_file=keys_file
    )
    assert settings.collector_write_keys() == {"k-file": "default", "k-both": "b"}
    with pytest.raises(ValueError, match="not served"):
        ProfileSettings(write_keys={"k": "elsewhere"}).collector_write_keys()
    keys_file.write_text(json.dumps({"keys": []}))
    with pytest.raises(ValueError, match="write_keys"):
        ProfileSettings(write_keys_file=keys_file).collector_write_keys()
