"""Fixtures of the runtime tests that several modules share (the event bus ones)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapport.eventbus import LogSubjects, NatsBus

from ._eventbus_support import SqlLog, delete_stream, new_subjects


@pytest.fixture
async def event_log(tmp_path: Path) -> AsyncIterator[SqlLog]:
    """A durable log in a fresh SQLite database."""
    log = await SqlLog.create(f"sqlite+aiosqlite:///{tmp_path}/log.db")
    yield log
    await log.engine.dispose()


@pytest.fixture
async def log_subjects(nats_url: str) -> AsyncIterator[LogSubjects]:
    """Subjects (4 partitions) and a stream of this test's own, deleted afterwards."""
    subjects = new_subjects(partitions=4)
    yield subjects
    await delete_stream(nats_url, subjects.stream)


@pytest.fixture
async def buses(nats_url: str) -> AsyncIterator[list[NatsBus]]:
    """One connection per replica."""
    buses = [NatsBus(nats_url, name=f"replica-{n}", reconnect_seconds=0.1) for n in range(3)]
    yield buses
    for bus in buses:
        await bus.close()
