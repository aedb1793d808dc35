"""Two replicas on one PostgreSQL database: their schedulers race for the same due
time-window firings, and each firing is sent exactly once (claims with a lease)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from rapport.decisioning.adapters import tables
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2

CATALOGUE = """
settings:
  contact_limits: []
actions:
  - id: reminder
    channels: [email]
    purpose: marketing
    value: 100.0
    content: {subject: "Renew", text_body: "Renew soon"}
triggers:
  - id: renewal-30
    kind: time_window
    date_trait: policy_renewal_date
    offset_days: -30
    action: reminder
    channel: email
"""
START = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
DUE = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
ANCHOR = date(2027, 3, 31)
# More than one claim batch (DUE_BATCH = 100) per replica pass.
CUSTOMERS = [f"workspaces/default/customers/c{i:03d}" for i in range(130)]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def pg_settings(tmp_path, make_settings, postgres_url, pg_schema):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    return make_settings(
        database_url=postgres_url,
        database_schema=pg_schema,
        catalogue_file=path,
        triggers_enabled=True,
        trigger_schedule_poll_seconds=0.02,
    )


async def _insert_due_rows(settings) -> None:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                tables.trigger_schedules.insert(),
                [
                    {
                        "workspace": "default",
                        "trigger_id": "renewal-30",
                        "customer": customer,
                        "anchor_date": ANCHOR.isoformat(),
                        "fire_time": DUE,
                        "fired_time": None,
                        "update_time": START,
                        "timezone": "UTC",
                    }
                    for customer in CUSTOMERS
                ],
            )
    finally:
        await engine.dispose()


async def _unfired(settings) -> int:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            t = tables.trigger_schedules
            return await conn.scalar(
                sa.select(sa.func.count()).select_from(t).where(t.c.fired_time.is_(None))
            )
    finally:
        await engine.dispose()


async def test_two_replicas_fire_each_due_row_exactly_once(serve, pg_settings, fake_services):
    for customer in CUSTOMERS:
        fake_services.profile.traits[customer] = {}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    clock = Clock(START)
    async with serve(pg_settings, clock=clock), serve(pg_settings, clock=clock):
        # Both replicas are up and polling; nothing is due yet.
        await _insert_due_rows(pg_settings)
        clock.now = DUE + timedelta(minutes=1)

        async def all_fired() -> bool:
            return await _unfired(pg_settings) == 0

        await eventually(all_fired, timeout=120)
    # Every delivery call (not only the accepted, deduplicated ones) counts.
    calls = Counter((r.customer, r.idempotency_key) for r in fake_services.delivery.requests)
    assert sorted(customer for customer, _ in calls) == sorted(CUSTOMERS)
    assert set(calls.values()) == {1}
