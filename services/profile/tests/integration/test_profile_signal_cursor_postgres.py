"""WatchSignals on PostgreSQL accepts the cursor of a reader that read signals erased
since (the newest ones, with their customer): its cursor is past every stored signal,
not past every signal handed out, and the stream goes on from there."""

from __future__ import annotations

import asyncio
from typing import Any

from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import watch
from ..service.test_profile_hygiene import ingest

PARENT = "workspaces/default"


async def test_a_reader_past_erased_signals_resumes(
    pg_profile_server: Any, event_factory: Any
) -> None:
    async with pg_profile_server() as (stub, _):
        await ingest(stub, event_factory("a1", user_id="ann"))
        [kim] = await ingest(stub, event_factory("k1", user_id="kim"))
        _, last = await watch(stub, 2)
        assert last.signal.customer == kim.customer
        await stub.EraseProfile(pb.EraseProfileRequest(name=f"{kim.customer}/profile"))

        call = stub.WatchSignals(
            pb.WatchSignalsRequest(parent=PARENT, start_cursor=last.signal.cursor)
        )
        reading = asyncio.ensure_future(call.read())
        # Refused at once on the old code (INVALID_ARGUMENT); now it waits for a signal.
        done, _ = await asyncio.wait({reading}, timeout=1)
        assert not done
        [lee] = await ingest(stub, event_factory("l1", user_id="lee"))
        first = await asyncio.wait_for(reading, 10)
        call.cancel()
        assert first.signal.customer == lee.customer
        assert int(first.signal.cursor) > int(last.signal.cursor)
