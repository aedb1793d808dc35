"""WatchConsentRecords: a workspace's ledger in commit order from a cursor, then live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.grpctesting import expect_error
from rapport.type.v1 import channel_pb2

from .._consent_support import FakeClock, customer_name, record, write_ledger_row

Stub = pb_grpc.ConsentServiceStub
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def take(responses: AsyncIterator[pb.WatchConsentRecordsResponse], n: int) -> list:
    out = []
    async with asyncio.timeout(10):
        async for response in responses:
            out.append(response)
            if len(out) == n:
                break
    return out


async def test_streams_the_ledger_then_live_entries_and_resumes_from_a_cursor(
    stub: Stub,
) -> None:
    alice, bob = customer_name(), customer_name()
    first = await record(stub, alice, pb.CONSENT_STATE_GRANTED)
    second = await record(stub, bob, pb.CONSENT_STATE_DENIED, channel=channel_pb2.CHANNEL_SMS)
    await record(stub, customer_name("brand2"), pb.CONSENT_STATE_GRANTED)  # other workspace

    call = stub.WatchConsentRecords(pb.WatchConsentRecordsRequest(parent="workspaces/default"))
    got = await take(call, 2)
    assert [r.consent_record for r in got] == [first, second]
    assert int(got[0].cursor) < int(got[1].cursor)
    live = asyncio.ensure_future(take(call, 1))
    await asyncio.sleep(0.05)
    third = await record(stub, alice, pb.CONSENT_STATE_DENIED)
    [latest] = await live
    assert latest.consent_record == third
    call.cancel()

    resumed = stub.WatchConsentRecords(
        pb.WatchConsentRecordsRequest(parent="workspaces/default", start_cursor=got[1].cursor)
    )
    [after] = await take(resumed, 1)
    assert (after.consent_record, after.cursor) == (third, latest.cursor)
    resumed.cancel()


async def test_an_unreadable_entry_is_skipped_and_counted(
    stub: Stub, clock: FakeClock, sqlite_settings: ConsentSettings
) -> None:
    customer = customer_name()
    await write_ledger_row(
        sqlite_settings.database_url_or_default(),
        customer,
        clock.now,
        source="newer_version",
        channel="carrier_pigeon",
        state="denied",
    )
    readable = await record(stub, customer, pb.CONSENT_STATE_DENIED)
    call = stub.WatchConsentRecords(pb.WatchConsentRecordsRequest(parent="workspaces/default"))
    [first] = await take(call, 1)
    call.cancel()
    assert (first.consent_record, first.skipped_record_count) == (readable, 1)


@pytest.mark.parametrize("cursor", ["0", "-1", "abc", "1" * 25, "99999"])
async def test_a_cursor_it_never_returned_is_invalid(stub: Stub, cursor: str) -> None:
    await record(stub, customer_name(), pb.CONSENT_STATE_GRANTED)
    call = stub.WatchConsentRecords(
        pb.WatchConsentRecordsRequest(parent="workspaces/default", start_cursor=cursor)
    )
    await expect_error(take(call, 1), INVALID, field="start_cursor")


async def test_another_workspace_or_a_bad_parent_is_refused(stub: Stub) -> None:
    for parent, code in [
        ("workspaces/elsewhere", grpc.StatusCode.NOT_FOUND),
        ("default", INVALID),
        ("", INVALID),
    ]:
        call = stub.WatchConsentRecords(pb.WatchConsentRecordsRequest(parent=parent))
        await expect_error(take(call, 1), code)
