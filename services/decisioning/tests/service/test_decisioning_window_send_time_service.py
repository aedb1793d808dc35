"""A time-window firing found long after its local fire time (the date arrived late, or
the service was down at that time) waits for the next local fire time, or is dropped
(TOO_LATE) when the window is over by then: never sent at 21:30 (injected clock)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.sqlstore import as_utc
from rapport.type.v1 import channel_pb2

from .test_decisioning_trigger_kinds_service import Clock, _schedule_rows, signal, trait

ALICE = "workspaces/default/customers/alice"
# The walkthrough: 30 days before a renewal date, at 09:00 in London (GMT in December).
CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: renewal-reminder
    channels: [sms]
    purpose: marketing
    value: 120.0
    content: {text_body: "Your policy renews soon"}
triggers:
  - id: renewal-30-days
    kind: time_window
    date_trait: renewal_date
    offset_days: -30
    action: renewal-reminder
    channel: sms
"""
EVENING = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 21:30 in London
NEXT_MORNING = datetime(2026, 12, 2, 9, tzinfo=UTC)  # 09:00 in London


@pytest.fixture
def settings(tmp_path, make_settings, fake_services):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    fake_services.profile.traits[ALICE] = {"timezone": "Europe/London"}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_SMS)
    return make_settings(
        catalogue_file=path, triggers_enabled=True, trigger_schedule_poll_seconds=0.05
    )


async def _renewal_date(fake_services, value: str) -> None:
    await signal(
        fake_services,
        ALICE,
        kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
        trait_changed=trait("renewal_date", value),
    )


def _row(settings, check):
    async def found():
        rows = await _schedule_rows(settings)
        return rows[0] if len(rows) == 1 and check(rows[0]) else None

    return found


async def test_a_date_set_in_the_evening_waits_for_the_next_local_morning(
    serve, settings, fake_services
):
    clock = Clock(EVENING)
    async with serve(settings, clock=clock):
        await _renewal_date(fake_services, "2026-12-31")  # the window opened at 09:00
        row = await eventually(_row(settings, lambda r: True))
        assert as_utc(row.fire_time) == NEXT_MORNING
        await asyncio.sleep(0.3)  # several scheduler passes (every 0.05 s): nothing due
        assert fake_services.delivery.accepted == []
        clock.now = NEXT_MORNING
        (sent,) = await eventually(lambda: list(fake_services.delivery.accepted))
    assert sent.customer == ALICE


async def test_a_firing_found_late_is_postponed_to_the_next_local_morning(
    serve, settings, fake_services
):
    clock = Clock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    async with serve(settings, clock=clock):
        await _renewal_date(fake_services, "2026-12-31")
        scheduled = await eventually(_row(settings, lambda r: True))
        assert as_utc(scheduled.fire_time) == datetime(2026, 12, 1, 9, tzinfo=UTC)
        # The service was down at 09:00: the pass at 21:30 postpones it, sends nothing.
        clock.now = EVENING
        postponed = await eventually(_row(settings, lambda r: as_utc(r.fire_time) == NEXT_MORNING))
        assert postponed.fired_time is None and postponed.claimed_until is None
        assert fake_services.delivery.accepted == []
        clock.now = NEXT_MORNING
        (sent,) = await eventually(lambda: list(fake_services.delivery.accepted))
        await eventually(_row(settings, lambda r: r.fired_time is not None))
    assert sent.idempotency_key == f"trigger:renewal-30-days:window:{ALICE}:2026-12-31"


async def test_a_window_over_before_the_next_local_morning_is_dropped(
    serve, settings, fake_services, caplog
):
    caplog.set_level(logging.INFO, logger="rapport.decisioning")
    async with serve(settings, clock=Clock(EVENING)):
        await _renewal_date(fake_services, "2026-12-01")  # the renewal is today
        await eventually(_row(settings, lambda r: r.fired_time is not None))
    assert fake_services.delivery.accepted == []
    reasons = [
        getattr(r, "error_reason", "")
        for r in caplog.records
        if r.getMessage() == "scheduled trigger passed over"
    ]
    assert reasons == ["TOO_LATE"]
