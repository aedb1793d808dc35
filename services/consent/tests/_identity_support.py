"""A scripted identity (WatchChanges only) and the merge scenarios, run on SQLite
(tests/service) and on PostgreSQL (tests/integration)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import sqlalchemy as sa
from rapport.consent.adapters.tables import identity_cursors
from rapport.consent.settings import ConsentSettings
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually, serve_fakes
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from rapport.sqlstore import create_engine

from ._consent_support import (
    FakeClock,
    batch_check,
    check,
    check_request,
    consent_stub,
    customer_name,
    record,
)

GRANTED = pb.CONSENT_STATE_GRANTED
DENIED = pb.CONSENT_STATE_DENIED


class ScriptedIdentity(ipb_grpc.IdentityServiceServicer):
    """WatchChanges streams `changes` past the start cursor, then each one added; the
    first `failures` calls fail UNAVAILABLE. Records the start cursors."""

    def __init__(self) -> None:
        self.changes: list[ipb.Change] = []
        self.start_cursors: list[str] = []
        self.failures = 0
        self._added = asyncio.Event()

    def add(self, kind: int, customer: str = "", *others: str) -> str:
        cursor = str(len(self.changes) + 1)
        self.changes.append(
            ipb.Change(cursor=cursor, kind=kind, customer=customer, other_customers=others)
        )
        self._added.set()
        return cursor

    async def WatchChanges(self, request: ipb.WatchChangesRequest, context: Any):  # noqa: N802
        self.start_cursors.append(request.start_cursor)
        if self.failures:
            self.failures -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "identity is starting")
        sent = int(request.start_cursor or 0)
        while True:
            pending = [c for c in self.changes if int(c.cursor) > sent]
            if not pending:
                self._added.clear()
                await self._added.wait()
                continue
            for change in pending:
                yield ipb.WatchChangesResponse(change=change)
                sent = int(change.cursor)


@asynccontextmanager
async def scripted_identity() -> AsyncIterator[tuple[ScriptedIdentity, str]]:
    fake = ScriptedIdentity()
    async with serve_fakes(lambda s: ipb_grpc.add_IdentityServiceServicer_to_server(fake, s)) as a:
        yield fake, a


@asynccontextmanager
async def following(
    settings: ConsentSettings, address: str, clock: FakeClock
) -> AsyncIterator[pb_grpc.ConsentServiceStub]:
    """Consent following the identity at `address` (short backoffs)."""
    followed = settings.model_copy(
        update={
            "identity_address": address,
            "identity_follow_min_backoff_seconds": 0.05,
            "identity_follow_max_backoff_seconds": 0.2,
            "watch_poll_seconds": 0.05,
        }
    )
    async with consent_stub(followed, clock) as stub:
        yield stub


async def allowed(stub: pb_grpc.ConsentServiceStub, customer: str) -> bool:
    return (await check(stub, customer)).allowed


async def cursor_saved(settings: ConsentSettings, cursor: str) -> None:
    """Until the follower stored `cursor` for workspaces/default: it saves it after the
    change's commit and invalidation, so a check may see the change a moment before."""
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    try:

        async def saved() -> bool:
            async with engine.connect() as connection:
                stored = await connection.scalar(
                    sa.select(identity_cursors.c.cursor).where(
                        identity_cursors.c.workspace == "default"
                    )
                )
            return stored == cursor

        await eventually(saved, timeout=10)
    finally:
        await engine.dispose()


async def becomes(stub: pb_grpc.ConsentServiceStub, customer: str, expected: bool) -> None:
    async def done() -> bool:
        return await allowed(stub, customer) is expected

    await eventually(done, timeout=10)


async def streamed(stub: pb_grpc.ConsentServiceStub, count: int) -> list[pb.ConsentRecord]:
    """The first `count` entries WatchConsentRecords streams in workspaces/default."""
    call = stub.WatchConsentRecords(pb.WatchConsentRecordsRequest(parent="workspaces/default"))
    seen: list[pb.ConsentRecord] = []
    try:
        async with asyncio.timeout(10):
            async for response in call:
                seen.append(response.consent_record)
                if len(seen) == count:
                    break
    finally:
        call.cancel()
    return seen


async def merge_then_unmerge(
    stub: pb_grpc.ConsentServiceStub, fake: ScriptedIdentity, clock: FakeClock
) -> None:
    """QA's repro: A granted, then B (anonymous) denied; identity merges B into A."""
    a, b = customer_name(), customer_name()
    granted = await record(stub, a, GRANTED)
    clock.advance(minutes=1)
    denied = await record(stub, b, DENIED)
    assert await allowed(stub, a) and not await allowed(stub, b)  # A's answer now cached

    fake.add(ipb.CHANGE_KIND_MERGED, a, b)
    await becomes(stub, a, False)
    answer = await check(stub, a)
    assert answer.state == DENIED and answer.record.name == denied.name
    assert not await allowed(stub, b)
    checks = await batch_check(stub, check_request(a), check_request(b))
    assert [r.allowed for r in checks] == [False, False]
    listed = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=a))
    assert [r.name for r in listed.consent_records] == [denied.name, granted.name]
    # The change delivery follows: A's answer turned to denied.
    notice = (await streamed(stub, 3))[2]
    assert (notice.customer, notice.state, notice.purpose) == (a, DENIED, "marketing")
    assert notice.name.startswith(f"{a}/consentRecords/") and notice.proof == denied.name

    fake.add(ipb.CHANGE_KIND_UNMERGED, a, b)
    await becomes(stub, a, True)
    assert not await allowed(stub, b)
    listed = await stub.ListConsentRecords(pb.ListConsentRecordsRequest(parent=a))
    assert [r.name for r in listed.consent_records] == [granted.name]


async def past_check_ignores_a_later_merge(
    stub: pb_grpc.ConsentServiceStub, fake: ScriptedIdentity, clock: FakeClock
) -> None:
    """A granted, B denied; B merged into A later: a check of A at a moment before the
    merge answers A's grant (what consent answered then), after it B's newer denial."""
    a, b = customer_name(), customer_name()
    await record(stub, a, GRANTED)
    clock.advance(minutes=1)
    await record(stub, b, DENIED)
    before_merge = clock.advance(minutes=1)
    clock.advance(minutes=1)
    fake.add(ipb.CHANGE_KIND_MERGED, a, b)
    await becomes(stub, a, False)
    after_merge = clock.advance(minutes=1)

    assert (await check(stub, a, at=before_merge)).allowed
    assert not (await check(stub, b, at=before_merge)).allowed
    assert not (await check(stub, a, at=after_merge)).allowed
    answers = await batch_check(
        stub,
        check_request(a, at=before_merge),
        check_request(a, at=after_merge),
        check_request(a),
        check_request(b, at=before_merge),
    )
    assert [r.allowed for r in answers] == [True, False, False, False]
    assert answers[0].record.customer == a and answers[1].record.customer == b


async def merge_newest_grant_wins(
    stub: pb_grpc.ConsentServiceStub, fake: ScriptedIdentity, clock: FakeClock
) -> None:
    """B denied, then A granted: the grant is what the person said last. B's decisions
    recorded after the merge are the survivor's."""
    a, b = customer_name(), customer_name()
    denied = await record(stub, b, DENIED)
    clock.advance(minutes=1)
    granted = await record(stub, a, GRANTED)
    assert not await allowed(stub, b)

    fake.add(ipb.CHANGE_KIND_MERGED, a, b)
    await becomes(stub, b, True)
    assert await allowed(stub, a)

    clock.advance(minutes=1)
    again = await record(stub, b, DENIED)
    assert again.name.startswith(f"{a}/consentRecords/")
    assert not await allowed(stub, a) and not await allowed(stub, b)
    # No notice for the merge (no answer turned to denied): the ledger streams the
    # three decisions only.
    names = [r.name for r in await streamed(stub, 3)]
    assert names == [denied.name, granted.name, again.name]


async def restart_resumes_from_the_stored_cursor(
    settings: ConsentSettings, fake: ScriptedIdentity, address: str, clock: FakeClock
) -> None:
    a, b = customer_name(), customer_name()
    async with following(settings, address, clock) as stub:
        await record(stub, a, GRANTED)
        clock.advance(minutes=1)
        await record(stub, b, DENIED)
        merged = fake.add(ipb.CHANGE_KIND_MERGED, a, b)
        await becomes(stub, a, False)
        # The check sees the merge a moment before the cursor is stored: stopped in
        # between, consent would rightly start again from the start.
        await cursor_saved(settings, merged)
    # Made while consent is down: applied after the restart, from the stored cursor.
    fake.add(ipb.CHANGE_KIND_UNMERGED, a, b)
    async with following(settings, address, clock) as stub:
        await becomes(stub, a, True)
        assert not await allowed(stub, b)
        assert fake.start_cursors[0] == "" and fake.start_cursors[-1] == merged


async def unreadable_changes_are_skipped(
    settings: ConsentSettings, fake: ScriptedIdentity, address: str, clock: FakeClock
) -> None:
    a, b = customer_name(), customer_name()
    fake.failures = 2  # identity away at first: retried with backoff
    fake.add(99, a, b)  # a kind this version does not know
    fake.add(ipb.CHANGE_KIND_MERGED, "workspaces/other/customers/x", b)  # not this workspace
    fake.add(ipb.CHANGE_KIND_MERGED, a, "not a customer name")
    async with following(settings, address, clock) as stub:
        await record(stub, a, GRANTED)
        clock.advance(minutes=1)
        await record(stub, b, DENIED)
        last = fake.add(ipb.CHANGE_KIND_MERGED, a, b)
        await becomes(stub, a, False)
        # As in the restart scenario: the cursor is stored a moment after the check
        # sees the merge; stopped before, consent rightly starts from an earlier one.
        await cursor_saved(settings, last)
    async with following(settings, address, clock) as stub:
        assert not await allowed(stub, a)
        await eventually(lambda: fake.start_cursors[-1] == last, timeout=10)
    assert fake.start_cursors[:3] == ["", "", ""]
