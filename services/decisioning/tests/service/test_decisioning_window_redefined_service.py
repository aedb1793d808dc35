"""A time-window firing scheduled before its trigger's offset changed fires at the time the
published trigger gives, not the time the old offset gave (injected clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from google.protobuf import field_mask_pb2
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.sqlstore import as_utc
from rapport.type.v1 import channel_pb2

from .._decisioning_support import publish
from .test_decisioning_trigger_kinds_service import Clock, _schedule_rows, signal, trait

ALICE = "workspaces/default/customers/alice"
TRIGGER = "workspaces/default/triggers/renewal-reminder"
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
  - id: renewal-reminder
    kind: time_window
    date_trait: renewal_date
    offset_days: -30
    action: renewal-reminder
    channel: sms
"""
RENEWAL_DATE = "2027-01-31"
THIRTY_DAYS_BEFORE = datetime(2027, 1, 1, 9, tzinfo=UTC)
FOURTEEN_DAYS_BEFORE = datetime(2027, 1, 17, 9, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path, make_settings, fake_services):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    fake_services.profile.traits[ALICE] = {}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_SMS)
    return make_settings(
        catalogue_file=path, triggers_enabled=True, trigger_schedule_poll_seconds=0.05
    )


async def _scheduled_at(settings, when: datetime) -> None:
    async def found() -> bool:
        rows = await _schedule_rows(settings)
        return len(rows) == 1 and as_utc(rows[0].fire_time) == when

    await eventually(found)


async def test_a_firing_waits_for_the_later_time_of_a_changed_offset(
    serve, settings, fake_services
):
    clock = Clock(datetime(2026, 12, 1, 8, tzinfo=UTC))
    async with serve(settings, clock=clock) as stub:
        await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("renewal_date", RENEWAL_DATE),
        )
        await _scheduled_at(settings, THIRTY_DAYS_BEFORE)
        # The marketer moves the reminder to 14 days before the renewal.
        await stub.UpdateTrigger(
            pb.UpdateTriggerRequest(
                trigger=pb.Trigger(name=TRIGGER, offset_days=-14),
                update_mask=field_mask_pb2.FieldMask(paths=["offset_days"]),
            )
        )
        await publish(stub)
        clock.now = THIRTY_DAYS_BEFORE
        await _scheduled_at(settings, FOURTEEN_DAYS_BEFORE)
        await asyncio.sleep(0.3)  # several scheduler passes (every 0.05 s)
        assert fake_services.delivery.accepted == []
        clock.now = FOURTEEN_DAYS_BEFORE
        (sent,) = await eventually(lambda: fake_services.delivery.accepted)
        assert sent.customer == ALICE


async def test_a_firing_after_the_date_is_sent_not_dropped(serve, settings, fake_services):
    clock = Clock(datetime(2026, 12, 1, 8, tzinfo=UTC))
    seven_days_after = datetime(2027, 2, 7, 9, tzinfo=UTC)
    async with serve(settings, clock=clock) as stub:
        # A thank-you a week after the renewal date.
        await stub.UpdateTrigger(
            pb.UpdateTriggerRequest(
                trigger=pb.Trigger(name=TRIGGER, offset_days=7),
                update_mask=field_mask_pb2.FieldMask(paths=["offset_days"]),
            )
        )
        await publish(stub)
        await signal(
            fake_services,
            ALICE,
            kind=profile_pb.SIGNAL_KIND_TRAIT_CHANGED,
            trait_changed=trait("renewal_date", RENEWAL_DATE),
        )
        await _scheduled_at(settings, seven_days_after)
        clock.now = seven_days_after
        (sent,) = await eventually(lambda: fake_services.delivery.accepted)
        assert sent.customer == ALICE
