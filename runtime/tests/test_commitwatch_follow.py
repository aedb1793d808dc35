from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from rapport.commitwatch import CommitNotifier, follow
from rapport.errors import Unavailable


@dataclass(frozen=True)
class Row:
    seq: int
    kind: str
    who: str = "c1"


@dataclass
class Log:
    """A log table: rows with increasing seq; records every read it served."""

    rows: list[Row] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    during_read: Callable[[], None] | None = None

    def append(self, kind: str, who: str = "c1") -> None:
        self.rows.append(Row(len(self.rows) + 1, kind, who))

    async def read_after(self, after: int, limit: int) -> list[Row]:
        self.reads.append(after)
        found = [row for row in self.rows if row.seq > after][:limit]
        await asyncio.sleep(0)
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            hook()  # a commit lands after the read, before the watcher waits
        return found


def known(row: Row) -> str:
    if row.kind == "bad":
        raise ValueError("unreadable payload")
    return f"{row.kind}:{row.seq}"


def stream(notifier: CommitNotifier, log: Log, *, after: int = 0, batch: int = 10, poll=60.0, **kw):
    return follow(
        notifier,
        log.read_after,
        after=after,
        cursor_of=lambda row: row.seq,
        convert=kw.pop("convert", known),
        batch_size=batch,
        poll_seconds=poll,
        **kw,
    )


async def take(items, n: int, within: float = 2.0) -> list:
    async def collect() -> list:
        return [await anext(items) for _ in range(n)]

    return await asyncio.wait_for(collect(), within)


async def test_a_commit_between_read_and_wait_wakes_the_stream() -> None:
    notifier, log = CommitNotifier(), Log()

    def commit() -> None:
        log.append("seen")
        notifier.notify()

    log.during_read = commit
    items = stream(notifier, log, poll=60)  # without the wake-up: a minute's wait
    assert await take(items, 1, within=1) == ["seen:1"]
    assert log.reads == [0, 0]


async def test_commits_of_other_replicas_are_found_by_polling() -> None:
    notifier, log = CommitNotifier(), Log()
    items = stream(notifier, log, poll=0.02)
    reader = asyncio.ensure_future(take(items, 2))
    await asyncio.sleep(0.05)
    log.append("a")  # no notify: another process committed it
    log.append("b")
    assert await reader == ["a:1", "b:2"]


async def test_full_batches_are_read_without_waiting_and_the_cursor_resumes() -> None:
    notifier, log = CommitNotifier(), Log()
    for _ in range(5):
        log.append("e")
    items = stream(notifier, log, after=1, batch=2, poll=60)
    assert await take(items, 4, within=1) == ["e:2", "e:3", "e:4", "e:5"]
    assert log.reads == [1, 3]  # the second read was full: no wait before it


async def test_an_undeliverable_record_is_reported_and_skipped() -> None:
    notifier, log = CommitNotifier(), Log()
    for kind in ("a", "bad", "b"):
        log.append(kind)
    skipped: list[tuple[int, str]] = []
    items = stream(
        notifier,
        log,
        batch=2,
        on_undeliverable=lambda row, exc: skipped.append((row.seq, type(exc).__name__)),
    )
    assert await take(items, 2) == ["a:1", "b:3"]
    assert skipped == [(2, "ValueError")]
    assert log.reads == [0, 2]  # the next read starts past the bad record


async def test_by_default_a_skipped_record_is_logged_without_its_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier, log = CommitNotifier(), Log()
    log.append("bad", who="secret@example.com")
    log.append("ok")
    with caplog.at_level(logging.WARNING, logger="rapport.commitwatch"):
        assert await take(stream(notifier, log), 1) == ["ok:2"]
    [record] = caplog.records
    assert (record.cursor, record.error_reason) == (1, "ValueError")
    assert "secret" not in record.getMessage()


async def test_records_converted_to_none_are_skipped_silently() -> None:
    notifier, log = CommitNotifier(), Log()
    for kind in ("future-kind", "a"):
        log.append(kind)
    items = stream(
        notifier, log, convert=lambda row: None if row.kind == "future-kind" else row.kind
    )
    assert await take(items, 1) == ["a"]


async def test_consecutive_items_of_one_read_can_be_coalesced() -> None:
    notifier, log = CommitNotifier(), Log()
    for kind, who in [("merged", "s"), ("merged", "s"), ("erased", "s"), ("merged", "t")]:
        log.append(kind, who)

    def coalesce(previous: tuple, item: tuple) -> tuple | None:
        if previous[0] == item[0] and previous[1] == item[1]:
            return (item[0], item[1], previous[2] + item[2])
        return None

    items = stream(
        notifier, log, convert=lambda row: (row.kind, row.who, (row.seq,)), coalesce=coalesce
    )
    assert await take(items, 3) == [
        ("merged", "s", (1, 2)),
        ("erased", "s", (3,)),
        ("merged", "t", (4,)),
    ]


async def test_closing_ends_a_waiting_stream_with_unavailable() -> None:
    notifier, log = CommitNotifier(), Log()
    items = stream(notifier, log, poll=60)
    waiting = asyncio.ensure_future(anext(items))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    notifier.close()
    with pytest.raises(Unavailable) as raised:
        await asyncio.wait_for(waiting, 1)
    assert raised.value.reason == "SHUTTING_DOWN"


async def test_a_closed_notifier_ends_the_stream_before_reading() -> None:
    notifier, log = CommitNotifier(), Log()
    notifier.close()
    log.append("a")
    with pytest.raises(Unavailable):
        await anext(stream(notifier, log))
    assert log.reads == []
