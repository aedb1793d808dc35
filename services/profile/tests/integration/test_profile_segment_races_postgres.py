"""A segment evaluated chunk by chunk on PostgreSQL, with a change committed between a
chunk's read of its customers and their locks: a customer merged away meanwhile is no
member (no membership, no entered signal for a customer that is gone), the survivor
is; a customer created meanwhile keeps the membership its ingest gave it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from rapport.grpctesting import HeldAfterRead, eventually
from rapport.profile.adapters.segment_repository import SegmentRepository
from rapport.profile.v1 import profile_service_pb2 as pb

from .. import conftest
from .._profile_support import merge_into
from ..service.test_profile_hygiene import ingest
from ..service.test_profile_segments import members

PARENT = "workspaces/default"


async def test_a_merge_while_a_segment_chunk_reads_leaves_no_member_behind(
    pg_profile_server: Any,
    event_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fill's first chunk, held after its read, before its customers' locks.
    hold = HeldAfterRead(monkeypatch, SegmentRepository, "customers_after", armed=False)
    async with pg_profile_server() as (stub, _):
        [kai] = await ingest(stub, event_factory("k", user_id="kai"))
        [anon] = await ingest(stub, event_factory("a", anonymous_id="anon-k"))
        hold.armed = True
        segment = await stub.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT, segment_id="everyone", segment=pb.Segment(rule="true")
            )
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        assert (
            await merge_into(stub, event_factory, "kai", "anon-k") == kai.customer != anon.customer
        )
        hold.release.set()

        async def evaluated() -> bool:
            found = await stub.GetSegment(pb.GetSegmentRequest(name=segment.name))
            return found.HasField("last_evaluation_time")

        await eventually(evaluated, timeout=10)
        # On the old code anon was made a member too (with an entered signal).
        assert await members(stub, segment.name) == [kai.customer]


async def test_a_customer_created_while_a_segment_chunk_reads_stays_a_member(
    pg_profile_server: Any,
    event_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold = HeldAfterRead(monkeypatch, SegmentRepository, "customers_after", armed=False)
    async with pg_profile_server() as (stub, _):
        known = await ingest(stub, *(event_factory(f"e{n}", user_id=f"u{n}") for n in range(3)))
        hold.armed = True
        segment = await stub.CreateSegment(
            pb.CreateSegmentRequest(
                parent=PARENT, segment_id="everyone", segment=pb.Segment(rule="true")
            )
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        # The lowest id there is: inside the held chunk's range, whatever the others'.
        monkeypatch.setattr(conftest.uuid, "uuid4", lambda: uuid.UUID(int=1))
        [new] = await ingest(stub, event_factory("n", user_id="newcomer"))
        assert new.customer.endswith("/" + uuid.UUID(int=1).hex)
        assert await members(stub, segment.name) == [new.customer]  # entered as it came
        hold.release.set()

        async def evaluated() -> bool:
            found = await stub.GetSegment(pb.GetSegmentRequest(name=segment.name))
            return found.HasField("last_evaluation_time")

        await eventually(evaluated, timeout=10)
        # On the old code the chunk took the newcomer's membership for one whose profile
        # was gone, and removed it (with an exited signal).
        assert await members(stub, segment.name) == sorted(
            [new.customer, *(r.customer for r in known)]
        )
