"""Seqs are never handed out twice (SQLite): events and signals get AUTOINCREMENT keys.

Without it, SQLite gives a new row the largest seq present plus one. Once an erasure
(EraseProfile, identity's, the inactivity sweep) deleted the newest rows, the next row
took the seq of one already read:

- a signal: every WatchSignals client and the NATS relay that had read up to that
  cursor skipped the new signal for good;
- an event: a computed trait's unfinished backfill, bounded by the seq of the last
  event stored when the trait was created, counted it again after the ingest that
  stored it had counted it.

Both tables are rebuilt (SQLite cannot alter a key) with their rows and seqs. Each
sequence starts past the largest seq kept and past what was handed out already as
far as this database knows (the relay's position; backfill bounds), so rows erased
before this upgrade are not reused either. PostgreSQL's sequences never reuse a value:
nothing to do there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table -> a query for the largest seq handed out that may no longer be stored.
_HANDED_OUT = {
    "events": "SELECT MAX(upto_seq) FROM backfill_jobs",
    "signals": "SELECT MAX(cursor) FROM relay_positions WHERE log = 'signals'",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table, handed_out in _HANDED_OUT.items():
        # Copying the rows sets the sequence to the largest seq kept.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
        last = bind.scalar(sa.text(handed_out))
        if last:
            _sequence_at_least(bind, table, int(last))


def _sequence_at_least(bind: sa.Connection, table: str, seq: int) -> None:
    params = {"table": table, "seq": seq}
    bind.execute(
        sa.text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :table AND seq < :seq"),
        params,
    )
    bind.execute(
        sa.text(
            "INSERT INTO sqlite_sequence (name, seq) SELECT :table, :seq "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :table)"
        ),
        params,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _HANDED_OUT:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
