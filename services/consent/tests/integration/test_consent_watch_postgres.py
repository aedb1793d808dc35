"""WatchConsentRecords on PostgreSQL: entries committed concurrently by many writers
are all streamed, once each, in cursor order (seq order is commit order per workspace)."""

from __future__ import annotations

import asyncio

from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb

from .._consent_support import FakeClock, consent_stub, customer_name, record


async def test_concurrent_writes_are_streamed_once_each_in_order(
    postgres_url: str, pg_schema: str, clock: FakeClock
) -> None:
    settings = ConsentSettings(
        database_url=postgres_url, database_schema=pg_schema, watch_poll_seconds=0.05
    )
    async with consent_stub(settings, clock) as stub:
        call = stub.WatchConsentRecords(pb.WatchConsentRecordsRequest(parent="workspaces/default"))
        seen: list[pb.WatchConsentRecordsResponse] = []

        async def watch() -> None:
            async for response in call:
                seen.append(response)
                if len(seen) == 60:
                    return

        watcher = asyncio.ensure_future(watch())
        written = await asyncio.gather(
            *(
                record(
                    stub,
                    customer_name(),
                    pb.CONSENT_STATE_DENIED if i % 2 else pb.CONSENT_STATE_GRANTED,
                )
                for i in range(60)
            )
        )
        async with asyncio.timeout(20):
            await watcher
        call.cancel()
    cursors = [int(r.cursor) for r in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == 60
    assert sorted(r.consent_record.name for r in seen) == sorted(w.name for w in written)
