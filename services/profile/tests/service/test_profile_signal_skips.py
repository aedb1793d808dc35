"""A stored signal that cannot be streamed never stops WatchSignals: it is skipped,
counted in the next response and logged (workspace, cursor, reason; no payload)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from rapport.profile.v1 import profile_service_pb2 as pb

from .._profile_support import SECRET, store_unstreamable_signals, watch

PARENT = "workspaces/default"
MAX_MESSAGE_BYTES = 256 * 1024
Stub = Any


async def ingest(stub: Stub, event_factory: Any, message_id: str) -> None:
    await stub.IngestEvents(
        pb.IngestEventsRequest(parent=PARENT, events=[event_factory(message_id)])
    )


def skip_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "signal skipped: it cannot be streamed"]


async def test_unstreamable_signals_in_the_middle_of_the_log_are_skipped_and_counted(
    profile_server: Any, event_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with profile_server(
        max_message_bytes=MAX_MESSAGE_BYTES, list_page_max_bytes=MAX_MESSAGE_BYTES // 2
    ) as (stub, _):
        await ingest(stub, event_factory, "before")
        bad = await store_unstreamable_signals(
            f"sqlite+aiosqlite:///{tmp_path / 'profile.db'}", max_bytes=MAX_MESSAGE_BYTES
        )
        await ingest(stub, event_factory, "after")

        first, second = await watch(stub, 2)
        assert first.signal.event_seen.event.message_id == "before"
        assert first.skipped_signal_count == 0
        # The stream went on past the bad rows, and says how many it skipped.
        assert second.signal.event_seen.event.message_id == "after"
        assert second.skipped_signal_count == len(bad) == 5
        assert int(first.signal.cursor) < bad[0][0] and bad[-1][0] < int(second.signal.cursor)

        # Resuming before them skips (and counts) them again; after them, nothing is skipped.
        [again] = await watch(stub, 1, start_cursor=first.signal.cursor)
        assert (again.signal.cursor, again.skipped_signal_count) == (second.signal.cursor, 5)
        [past] = await watch(stub, 1, start_cursor=str(bad[-1][0]))
        assert (past.signal.cursor, past.skipped_signal_count) == (second.signal.cursor, 0)
        # A kind filter leaves out the unknown kind and the trait change before decoding.
        [seen] = await watch(stub, 1, kinds=[pb.SIGNAL_KIND_EVENT_SEEN], start_cursor="1")
        assert seen.signal.cursor == second.signal.cursor and seen.skipped_signal_count == 3

    records = skip_records(caplog)
    first_stream = records[:5]
    assert [r.levelname for r in first_stream] == ["WARNING"] * 5
    assert [(r.workspace, r.cursor) for r in first_stream] == [  # type: ignore[attr-defined]
        ("default", str(seq)) for seq, _ in bad
    ]
    assert [r.error_reason for r in first_stream] == [  # type: ignore[attr-defined]
        "UNDECODABLE:KeyError",
        "UNDECODABLE:ValueError",
        "UNDECODABLE:TypeError",
        "TOO_LARGE:SignalTooLarge",
        "UNDECODABLE:JSONDecodeError",
    ]
    # Never the payload: it may hold personal data.
    assert not [r for r in caplog.records if SECRET in str(r.__dict__)]
