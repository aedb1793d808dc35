"""A seq (a signal's cursor, an event's position) is never handed out twice.

SQLite gave a new row the largest seq present plus one: once an erasure deleted the
newest rows, the next row took the seq of one already read. A signal then went
unseen by every WatchSignals client (and the NATS relay) that had read up to that
cursor; an event fell inside a running backfill's bound and was counted twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.service_layer import commands, computed_traits, hygiene, ingestion, signals
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import TextClause, text

from .._profile_support import watch
from .test_profile_handlers import make_deps

PARENT = "workspaces/default"


async def ingest(stub: Any, event: pb.Event) -> pb.IngestEventResult:
    response = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=[event]))
    [result] = response.results
    assert result.status == pb.INGEST_STATUS_ACCEPTED
    return result


async def test_a_reader_past_an_erased_signal_gets_the_next_signal(
    profile: Any, event_factory: Any
) -> None:
    await ingest(profile, event_factory("a1", user_id="ann"))
    kim = await ingest(profile, event_factory("k1", user_id="kim"))
    _, last = await watch(profile, 2)
    assert last.signal.customer == kim.customer
    # The newest signal goes with its customer; a client has read up to it.
    await profile.EraseProfile(pb.EraseProfileRequest(name=f"{kim.customer}/profile"))
    lee = await ingest(profile, event_factory("l1", user_id="lee"))

    [after] = await watch(profile, 1, start_cursor=last.signal.cursor)

    assert after.signal.customer == lee.customer
    assert int(after.signal.cursor) > int(last.signal.cursor)


def viewed(message_id: str, user_id: str) -> IncomingEvent:
    return IncomingEvent(EventType.TRACK, message_id, user_id=user_id, event="Viewed")


async def test_an_event_after_an_erasure_is_counted_once_by_a_running_backfill(
    tmp_path: Path,
) -> None:
    deps, engine = await make_deps(tmp_path)

    async def ingest_events(*events: IncomingEvent) -> list[ingestion.EventResult]:
        return await ingestion.ingest_events(commands.IngestEvents(PARENT, events), deps)

    [ann] = await ingest_events(viewed("a1", "ann"))
    bob, _ = await ingest_events(viewed("b1", "bob"), viewed("b2", "bob"))
    # Its backfill counts the events stored now (up to bob's); later ones, the ingests.
    await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "views", Kind.COUNT, 0, "Viewed", {}, ""), deps
    )
    # Before the backfill ran, the newest events go with their customer.
    await hygiene.erase_profile(
        commands.EraseProfile(f"{PARENT}/customers/{bob.customer_id}/profile"), deps
    )
    [cai] = await ingest_events(viewed("c1", "cai"))  # counted by this ingest

    assert await computed_traits.run_due_backfills(deps) == 1
    async with deps.uow(readonly=True) as uow:
        customers = [ann.customer_id, cai.customer_id]
        values = await computed_traits.values_of(uow, "default", customers, deps.clock())
    assert {c: v["views"] for c, v in values.items()} == {ann.customer_id: 1, cai.customer_id: 1}
    await engine.dispose()


def _signal(seq: int | None = None) -> tuple[TextClause, dict[str, Any]]:
    columns = "workspace, kind, customer_id, payload, create_time"
    values = "'default', 'EVENT_SEEN', 'c1', '{}', '2026-12-01 00:00:00'"
    params: dict[str, Any] = {}
    if seq is not None:
        columns, values, params = f"seq, {columns}", f":seq, {values}", {"seq": seq}
    return text(f"INSERT INTO signals ({columns}) VALUES ({values})"), params


def _event(message_id: str, seq: int | None = None) -> tuple[TextClause, dict[str, Any]]:
    columns = (
        "workspace, message_id, event_id, customer_id, type, event_name, timestamp, "
        "received_at, document"
    )
    values = (
        "'default', :message_id, :message_id, 'c1', 'track', 'Viewed', "
        "'2026-12-01 00:00:00', '2026-12-01 00:00:00', '{}'"
    )
    params: dict[str, Any] = {"message_id": message_id}
    if seq is not None:
        columns, values, params = f"seq, {columns}", f":seq, {values}", {**params, "seq": seq}
    return text(f"INSERT INTO events ({columns}) VALUES ({values})"), params


async def _seqs(conn: Any, table: str) -> list[int]:
    return list((await conn.execute(text(f"SELECT seq FROM {table} ORDER BY seq"))).scalars())


async def test_the_upgrade_keeps_the_rows_and_never_reuses_a_seq(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}")
    try:
        await migrate(engine, MIGRATIONS_DIR, revision="0005")
        async with engine.begin() as conn:
            for seq in (1, 2, 3, 9):
                await conn.execute(*_signal(seq))
                await conn.execute(*_event(f"m{seq}", seq))
            # Handed out before 0006, then erased: signals up to 12 (the relay published
            # them), events up to 20 (a backfill's bound).
            await conn.execute(
                text("INSERT INTO relay_positions (log, cursor) VALUES ('signals', 12)")
            )
            await conn.execute(
                text(
                    "INSERT INTO backfill_jobs VALUES ('default', 't', 'j', 'running', 20, 0, "
                    "0, 4, '2026-12-01 00:00:00', '2026-12-01 00:00:00', NULL)"
                )
            )
        await migrate(engine, MIGRATIONS_DIR)
        async with engine.begin() as conn:
            assert await _seqs(conn, "signals") == await _seqs(conn, "events") == [1, 2, 3, 9]
            for n in range(2):  # the newest erased each time: its seq is not reused
                await conn.execute(*_signal())
                await conn.execute(*_event(f"new{n}"))
                if n == 0:
                    await conn.execute(text("DELETE FROM signals WHERE seq = 13"))
                    await conn.execute(text("DELETE FROM events WHERE seq = 21"))
            assert await _seqs(conn, "signals") == [1, 2, 3, 9, 14]
            assert await _seqs(conn, "events") == [1, 2, 3, 9, 22]
            indexes = (
                await conn.execute(
                    text(
                        "SELECT name FROM sqlite_master "
                        "WHERE type = 'index' AND tbl_name IN ('signals', 'events')"
                    )
                )
            ).scalars()
            assert {
                "ix_signals_workspace_seq",
                "ix_signals_workspace_customer",
                "ix_events_customer_time",
                "ix_events_workspace_time",
                "ix_events_workspace_name_time",
            } <= set(indexes)
    finally:
        await engine.dispose()


async def test_a_reader_past_erased_signals_may_resume_before_the_next_one(
    tmp_path: Path,
) -> None:
    deps, engine = await make_deps(tmp_path)
    await ingestion.ingest_events(commands.IngestEvents(PARENT, [viewed("a1", "ann")]), deps)
    [kim] = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [viewed("k1", "kim")]), deps
    )
    async with deps.uow(readonly=True) as uow:
        last = await uow.signal_log.last_seq()  # a reader has read up to kim's
    await hygiene.erase_profile(
        commands.EraseProfile(f"{PARENT}/customers/{kim.customer_id}/profile"), deps
    )
    # Every stored signal is now before the reader's cursor. It used to be refused
    # (INVALID_ARGUMENT) until a new signal was logged.
    stream = await signals.watch_signals(commands.WatchSignals(PARENT, str(last)), deps)
    [lee] = await ingestion.ingest_events(
        commands.IngestEvents(PARENT, [viewed("l1", "lee")]), deps
    )
    first = await asyncio.wait_for(anext(aiter(stream)), 5)
    assert first.signal.customer_id == lee.customer_id and first.signal.seq > last
    await engine.dispose()
