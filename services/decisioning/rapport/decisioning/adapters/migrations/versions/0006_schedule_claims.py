"""Claims on due time-window firings (a replica's lease, so only one fires a row) and
the customer's time zone each firing was scheduled in.

Rows stored before keep NULL: unclaimed, and scheduled in UTC.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_schedules") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger_schedules") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("claimed_until")
