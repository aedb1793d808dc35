"""SQLite connections checkpoint the WAL less often than SQLite's default: a profile
ingest batch writes more than the default 1,000-page WAL, so each commit would copy
the pages it rewrote back into the database file."""

from __future__ import annotations

from pathlib import Path

from rapport.sqlstore import create_engine
from sqlalchemy import text


async def test_connections_checkpoint_the_wal_every_10000_pages(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'settings.db'}")
    try:
        async with engine.connect() as conn:
            checkpoint = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar()
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
    finally:
        await engine.dispose()
    assert checkpoint == 10000  # pages
    assert journal == "wal"
