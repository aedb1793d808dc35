"""RecordConsent racing identity's merge on PostgreSQL with the shared (Redis) cache.

RecordConsent reads the customer's group, then writes the decision and invalidates the
cached answers of that group. On PostgreSQL (read committed) a merge of the customer
into a survivor can commit in between: the survivor's answer now includes the new
decision, so its cached answer must go too, or a check of the survivor keeps answering
from a state read before the opt-out was acknowledged.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from rapport.consent.adapters.aliases import AliasRepository
from rapport.consent.adapters.tables import identity_cursors
from rapport.consent.settings import ConsentSettings
from rapport.grpctesting import HeldAfterRead
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.sqlstore import create_engine

from .._consent_support import FakeClock, check, customer_name, record
from .._identity_support import DENIED, GRANTED, following, scripted_identity


async def _cursor_saved(postgres_url: str, schema: str, cursor: str) -> None:
    """Wait until the follower saved `cursor` (it invalidates the cache before that)."""
    engine = create_engine(postgres_url, schema=schema)
    try:
        async with asyncio.timeout(10):
            while True:
                async with engine.connect() as conn:
                    saved = await conn.scalar(sa.select(identity_cursors.c.cursor))
                if saved == cursor:
                    return
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


async def test_an_opt_out_recorded_during_a_merge_reaches_the_survivors_cached_answer(
    postgres_url: str,
    pg_schema: str,
    redis_url: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ConsentSettings(
        database_url=postgres_url,
        database_schema=pg_schema,
        redis_url=redis_url,
        cache_key_prefix=f"test:{uuid.uuid4().hex}:",
    )
    survivor, merged = customer_name(), customer_name()
    group_read = HeldAfterRead(monkeypatch, AliasRepository, "group", armed=False, hold_empty=True)
    async with scripted_identity() as (fake, address):
        async with following(settings, address, clock) as stub:
            await record(stub, survivor, GRANTED)
            clock.advance(minutes=1)

            # The merged customer's opt-out has read its group (itself alone)...
            group_read.armed = True
            opt_out = asyncio.create_task(record(stub, merged, DENIED))
            await asyncio.wait_for(group_read.reached.wait(), 10)
            # ...when identity's merge commits (and its invalidations are done).
            cursor = fake.add(ipb.CHANGE_KIND_MERGED, survivor, merged)
            await _cursor_saved(postgres_url, pg_schema, cursor)
            # The survivor is checked before the opt-out commits: GRANTED is cached.
            assert (await check(stub, survivor)).allowed

            group_read.release.set()
            denied = await opt_out
            # Acknowledged: no check of the survivor may answer from before it.
            answer = await check(stub, survivor)
            assert (answer.allowed, answer.record.name) == (False, denied.name)
            assert not (await check(stub, merged)).allowed
