"""A TIME_WINDOW trigger published when customers already hold its date still fires for
them: the backfill reads them from profile's ListProfiles (only the date and time-zone
traits) and schedules each as a trait-changed signal would; it resumes after a restart
from the page it had reached (injected clock, fake profile)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from rapport.decisioning.adapters import tables
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.service_layer import window_backfill
from rapport.decisioning.service_layer.unit_of_work import DecisioningUnitOfWork
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.sqlstore import as_utc, create_engine, migrate
from rapport.type.v1 import channel_pb2

from .._decisioning_support import publish
from .test_decisioning_trigger_kinds_service import Clock, _schedule_rows
from .test_decisioning_window_redefined_service import (
    ALICE,
    CATALOGUE,
    RENEWAL_DATE,
    THIRTY_DAYS_BEFORE,
    TRIGGER,
)

BOB = "workspaces/default/customers/bob"
CAROL = "workspaces/default/customers/carol"


@pytest.fixture
def catalogue(tmp_path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    return path


@pytest.fixture
def settings(catalogue, make_settings):
    return make_settings(
        catalogue_file=catalogue, triggers_enabled=True, trigger_schedule_poll_seconds=0.05
    )


async def _backfills(settings) -> list:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(tables.trigger_backfills))).all())
    finally:
        await engine.dispose()


async def test_a_date_held_before_the_trigger_was_published_fires(
    serve, settings, fake_services, make_settings, catalogue
):
    # Ingested before the trigger existed: no trait-changed signal will ever come.
    fake_services.profile.traits[ALICE] = {"renewal_date": RENEWAL_DATE, "plan": "gold"}
    fake_services.profile.traits[BOB] = {"plan": "basic"}  # no renewal date
    fake_services.profile.traits[CAROL] = {"renewal_date": RENEWAL_DATE}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_SMS)
    clock = Clock(datetime(2026, 12, 1, 8, tzinfo=UTC))
    # Carol was erased here (profile still lists her: its erasure is its own).
    async with serve(make_settings(catalogue_file=catalogue), clock=clock) as stub:
        await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent="workspaces/default", customer=CAROL)
        )
    async with serve(settings, clock=clock) as stub:
        (row,) = await eventually(lambda: _schedule_rows(settings))
        assert row.customer == ALICE and as_utc(row.fire_time) == THIRTY_DAYS_BEFORE
        (request,) = fake_services.profile.list_profiles_requests
        assert request.parent == "workspaces/default/customers/-"
        assert request.has_trait == "renewal_date"
        assert set(request.read_mask.paths) == {"traits.renewal_date", "traits.timezone"}
        (backfill,) = await eventually(
            lambda: _complete(settings)  # the record shows it done, with its count
        )
        assert backfill.profile_count == 2  # Carol read, not scheduled
        # Visible on the trigger.
        shown = await stub.GetTrigger(pb.GetTriggerRequest(name=TRIGGER))
        assert shown.backfill_state == pb.TRIGGER_BACKFILL_STATE_SUCCEEDED
        assert shown.backfill_profile_count == 2 and shown.HasField("backfill_complete_time")
        # Redefined in the draft: that definition is not backfilled until published.
        changed = await stub.UpdateTrigger(
            pb.UpdateTriggerRequest(
                trigger=pb.Trigger(name=TRIGGER, offset_days=-14),
                update_mask=field_mask_pb2.FieldMask(paths=["offset_days"]),
            )
        )
        assert changed.backfill_state == pb.TRIGGER_BACKFILL_STATE_PENDING
        listed = await stub.ListTriggers(pb.ListTriggersRequest(parent="workspaces/default"))
        assert [t.backfill_state for t in listed.triggers] == [pb.TRIGGER_BACKFILL_STATE_PENDING]
        clock.now = THIRTY_DAYS_BEFORE
        (sent,) = await eventually(lambda: fake_services.delivery.accepted)
        assert sent.customer == ALICE
    # Done for this definition: a restart asks profile nothing more.
    async with serve(settings, clock=clock):
        await eventually(lambda: _complete(settings))
    assert len(fake_services.profile.list_profiles_requests) == 1


async def _complete(settings) -> list:
    return [b for b in await _backfills(settings) if b.complete_time is not None]


async def test_a_restart_resumes_from_the_page_reached(serve, settings, fake_services, monkeypatch):
    monkeypatch.setattr(window_backfill, "PAGE_SIZE", 2)
    customers = [f"workspaces/default/customers/c{n}" for n in range(5)]
    for customer in customers:
        fake_services.profile.traits[customer] = {"renewal_date": RENEWAL_DATE}
    # Profile goes down after the first page (its token: "2").
    fake_services.profile.unavailable_tokens = {"2"}
    clock = Clock(datetime(2026, 12, 1, 8, tzinfo=UTC))
    requests = fake_services.profile.list_profiles_requests
    async with serve(settings, clock=clock):
        # Retried with backoff, never given up.
        await eventually(lambda: sum(r.page_token == "2" for r in requests) >= 2)
        (backfill,) = await _backfills(settings)
        assert backfill.page_token == "2" and backfill.profile_count == 2
        assert backfill.complete_time is None
        assert {r.customer for r in await _schedule_rows(settings)} == set(customers[:2])
    asked_before_restart = len(requests)
    fake_services.profile.unavailable_tokens = set()
    # The stopped replica's claim lapses after its lease.
    clock.now += timedelta(seconds=settings.trigger_schedule_lease_seconds + 1)
    async with serve(settings, clock=clock):
        (backfill,) = await eventually(lambda: _complete(settings))
        assert backfill.profile_count == 5
        assert {r.customer for r in await _schedule_rows(settings)} == set(customers)
    # Resumed at the page reached, not from the start.
    assert [r.page_token for r in requests[asked_before_restart:]] == ["2", "4"]


async def test_a_published_redefinition_is_backfilled_again(serve, settings, fake_services):
    fake_services.profile.traits[ALICE] = {"renewal_date": RENEWAL_DATE}
    clock = Clock(datetime(2026, 12, 1, 8, tzinfo=UTC))
    requests = fake_services.profile.list_profiles_requests
    async with serve(settings, clock=clock) as stub:
        await eventually(lambda: _complete(settings))
        # A year later than the trait's date: every holder's firing moves.
        await stub.UpdateTrigger(
            pb.UpdateTriggerRequest(
                trigger=pb.Trigger(name=TRIGGER, years_after=1),
                update_mask=field_mask_pb2.FieldMask(paths=["years_after"]),
            )
        )
        await publish(stub)

        async def moved() -> bool:
            rows = await _schedule_rows(settings)
            return [r.anchor_date for r in rows] == ["2028-01-31"]

        await eventually(moved)
        await eventually(lambda: _complete(settings))
        shown = await stub.GetTrigger(pb.GetTriggerRequest(name=TRIGGER))
        assert shown.backfill_state == pb.TRIGGER_BACKFILL_STATE_SUCCEEDED
        assert len(requests) == 2


async def test_a_firing_written_after_the_page_was_read_stays(tmp_path):
    """A trait-changed signal handled while a page was in flight scheduled the newer date:
    the page's older value does not overwrite (nor remove) it."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'decisioning.db'}")
    read_at = datetime(2026, 12, 1, 8, tzinfo=UTC)
    later = read_at + timedelta(seconds=1)
    signal_date, page_date = date(2027, 3, 1), date(2027, 1, 31)
    try:
        await migrate(engine, MIGRATIONS)
        async with DecisioningUnitOfWork(engine) as uow:
            schedules = uow.trigger_schedules
            await schedules.put("default", "t", ALICE, signal_date, later, later)
            await schedules.put("default", "t", ALICE, page_date, read_at, read_at, "", read_at)
            await schedules.remove("default", "t", ALICE, read_at)
            [row] = await schedules.pending("default", ALICE)
            assert row.anchor == signal_date
            # Written before the read: the page's value is newer.
            await schedules.put("default", "t", ALICE, page_date, later, later, "", later)
            [row] = await schedules.pending("default", ALICE)
            assert row.anchor == page_date
            await uow.commit()
    finally:
        await engine.dispose()
